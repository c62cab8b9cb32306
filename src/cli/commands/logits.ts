/**
 * `moe-lab logits --model DIR --ids IDS.json --out FILE.safetensors [--json]`: one sequence through the GPU forward;
 * writes `logits` [T, V] f32 and `layers.{i}.router_logits` [T, E] f32 for every MoE layer (docs/architecture.md).
 * --masks applies a pruning, --disable-experts switches experts off and --force-expert forces one (steering) for the logits.
 */
import { writeFile } from 'node:fs/promises';
import { writeSafetensors } from '../../engine/io/safetensors.ts';
import { parseFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command } from './command.ts';
import { parseSteeringFlags, steeredMaskSet, STEERING_FLAGS, STEERING_USAGE } from './steering-flags.ts';
import { readIdsFile, readMasksFile } from './ppl.ts';

const bytesOf = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

export const logitsCommand: Command = {
  name: 'logits',
  summary: 'logits and router logits of one token sequence, written as safetensors',
  usage: `logits --model DIR --ids IDS.json --out FILE.safetensors [--masks MASKS.safetensors] ${STEERING_USAGE} [--json]`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        ids: { type: 'string' },
        out: { type: 'string' },
        masks: { type: 'string' },
        ...STEERING_FLAGS,
        json: { type: 'boolean' },
      },
      'logits',
    );
    const steering = parseSteeringFlags('logits', flags);
    const masksFile = flags.optionalString('masks');
    const modelDir = flags.string('model');
    const idsFile = flags.string('ids');
    const outFile = flags.string('out');
    const folder = await directoryFolder(modelDir);
    const lab = nodeLab('moe-lab logits');
    let spec, ids, result;
    try {
      const model = await lab.loadFolder(folder);
      spec = model.spec;
      ids = await readIdsFile(idsFile, spec);
      const masks = steeredMaskSet('logits', spec, masksFile ? await readMasksFile(masksFile, spec, model.contentHash) : null, steering);
      result = await lab.logitsOfIds(ids, {}, masks);
    } finally {
      await lab.dispose();
    }
    const T = ids.length;
    const tensors = [{ name: 'logits', dtype: 'F32' as const, shape: [T, spec.vocabSize], data: bytesOf(result.logits) }];
    const moeLayers: number[] = [];
    result.routerLogits.forEach((routerLogits, l) => {
      if (!routerLogits) return;
      moeLayers.push(l);
      tensors.push({ name: `layers.${l}.router_logits`, dtype: 'F32', shape: [T, spec.numExperts], data: bytesOf(routerLogits) });
    });
    await writeFile(outFile, writeSafetensors(tensors, { format: 'pt', producer: 'moe-lab logits' }));
    if (flags.flag('json')) io.out(JSON.stringify({ out: outFile, tokens: T, vocab: spec.vocabSize, routerLayers: moeLayers }));
    else io.out(`wrote ${outFile}: logits [${T}, ${spec.vocabSize}] and router logits of ${moeLayers.length} MoE layers`);
    return 0;
  },
};
