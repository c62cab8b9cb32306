/**
 * `moe-lab generate --model DIR --prompt TEXT [--tokens N] [--temperature T [--seed S]] [--masks MASKS.safetensors]
 * [--disable-experts L:E[,L:E...]] [--force-expert L:E[,L:E...]] [--json]`: continues a prompt on the GPU with the
 * page's generation (src/gpu/eval/generate.ts through the lab service): greedy by default, or sampled from
 * softmax(logits / T) with a seed. --masks applies a pruning, --disable-experts switches experts off and
 * --force-expert routes every token of a layer to one expert (steering, src/engine/model/steering.ts; L may be * for
 * every MoE layer); they combine.
 */
import type { GenerateRequest, Sampling } from '../../api/lab.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { formatExpertSwitches } from '../../engine/model/steering.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command } from './command.ts';
import { parseSteeringFlags, steeredMaskSet, STEERING_FLAGS, STEERING_USAGE } from './steering-flags.ts';
import { readMasksFile } from './ppl.ts';

/** New tokens when --tokens is not given: a sentence or two on the small models the lab ships. */
export const DEFAULT_GENERATE_TOKENS = 32;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt (greedy or seeded sampling), optionally pruned (--masks) or steered (--disable-experts, --force-expert)',
  usage: `generate --model DIR --prompt TEXT [--tokens N] [--temperature T [--seed S]] [--masks MASKS.safetensors] ${STEERING_USAGE} [--json]`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        prompt: { type: 'string' },
        tokens: { type: 'string' },
        temperature: { type: 'string' },
        seed: { type: 'string' },
        masks: { type: 'string' },
        ...STEERING_FLAGS,
        json: { type: 'boolean' },
      },
      'generate',
    );
    const modelDir = flags.string('model');
    const prompt = flags.string('prompt');
    const tokens = flags.number('tokens', DEFAULT_GENERATE_TOKENS, { min: 1, integer: true });
    const temperature = flags.optionalNumber('temperature', { min: Number.MIN_VALUE });
    const seed = flags.optionalNumber('seed', { min: 0, max: 0xffffffff, integer: true });
    if (seed !== undefined && temperature === undefined) throw new UsageError('generate: --seed needs --temperature (greedy decoding draws nothing)');
    const sampling: Sampling = temperature === undefined ? { kind: 'greedy' } : { kind: 'sample', temperature, seed: seed ?? 0 };
    const steering = parseSteeringFlags('generate', flags);
    const masksFile = flags.optionalString('masks');
    const folder = await directoryFolder(modelDir);
    const lab = nodeLab('moe-lab generate');
    try {
      const model = await lab.loadFolder(folder);
      if (!model.tokenizer) throw new ModelFileError(`${modelDir}/tokenizer.json`, 'missing-file', 'file not found (generate needs the model tokenizer)');
      const pruning = masksFile ? await readMasksFile(masksFile, model.spec, model.contentHash) : null;
      const masks = steeredMaskSet('generate', model.spec, pruning, steering);
      const request: GenerateRequest = { prompt, maxNewTokens: tokens, sampling, variant: pruning ? 'pruned' : 'dense' };
      const result = await lab.generateWithMaskSet(request, masks);
      if (flags.flag('json')) {
        io.out(
          JSON.stringify({
            prompt,
            promptTokens: result.promptTokens,
            text: result.text,
            tokenTexts: result.tokenTexts,
            stoppedAtEos: result.stoppedAtEos,
            sampling,
            masks: masksFile ?? null,
            disabledExperts: formatExpertSwitches(steering.disabled),
            forcedExperts: formatExpertSwitches(steering.forced),
          }),
        );
      } else {
        io.out(`${prompt}${result.text}`);
      }
    } finally {
      await lab.dispose();
    }
    return 0;
  },
};
