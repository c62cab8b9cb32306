/**
 * `moe-lab ppl --model DIR (--ids IDS.json | --text FILE) [--ctx N] [--stride N] [--max-tokens N] [--batch N] --json`
 * Perplexity on the GPU (Node + Dawn). With --ids the list is one window by default (ctx = its length): T-1
 * predictions, exactly the shifted cross-entropy transformers reports. With --text the model's tokenizer.json
 * encodes the file (special tokens as `tokenizer(text)` adds them), then windows of --ctx tokens every --stride
 * tokens are scored (src/engine/eval/windows.ts; non-overlapping by default). --masks MASKS.safetensors (from
 * `moe-lab prune` or `calibrate --masks-out`) evaluates a pruning of this dense model without exporting it: the masks
 * apply on the fly, dropped experts leave the routing (src/engine/prune/masks-file.ts). --disable-experts L:E,...
 * switches experts off and --force-expert L:E,... routes every token of a layer to one expert (steering,
 * src/engine/model/steering.ts), with or without --masks. --compare (with --masks) also runs the dense model on the same windows and reports its perplexity and the pruned model's fidelity to it:
 * mean KL(p_dense || p_pruned) per scored token, top-1 agreement and each window's first disagreement
 * (src/engine/eval/fidelity.ts), from the two models' logits on the GPU (src/gpu/eval/fidelity.ts).
 */
import { readFile } from 'node:fs/promises';
import { ModelFileError } from '../../engine/errors.ts';
import { parseTokenIds } from '../../engine/eval/ids.ts';
import { readSafetensorsHeader } from '../../engine/io/safetensors.ts';
import type { MaskSet } from '../../engine/model/mask-set.ts';
import type { MoeModelSpec } from '../../engine/model/spec.ts';
import { masksFromSafetensors } from '../../engine/prune/masks-file.ts';
import { contextLimit } from '../../lab/lab-session.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder, FileByteSource } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { IdsComparisonReport } from '../../lab/token-runs.ts';
import type { Command } from './command.ts';
import { parseSteeringFlags, steeredMaskSet, STEERING_FLAGS, STEERING_USAGE } from './steering-flags.ts';

/** Default window for --text: the model's context, at most 2048 tokens (Wanda's and SparseGPT's LLaMA setting). */
export const DEFAULT_TEXT_CTX = 2048;

/** Token ids from --ids IDS.json (checked against the vocabulary). */
export async function readIdsFile(file: string, spec: MoeModelSpec): Promise<number[]> {
  return parseTokenIds(file, await readFile(file, 'utf8'), spec.vocabSize);
}

/** masks.safetensors for this model (refused when its model_hash names another model). */
export async function readMasksFile(file: string, spec: MoeModelSpec, modelHash: string): Promise<MaskSet> {
  const source = new FileByteSource(file);
  const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
  const masks = masksFromSafetensors(spec, header, await source.read(0, await source.size()));
  const hash = header.metadata.model_hash;
  if (hash && hash !== modelHash) {
    throw new ModelFileError(file, 'bad-header', `masks of another model (model_hash ${hash.slice(0, 16)}…); give the dense model they were made on`);
  }
  return masks;
}

/** `--compare`'s JSON keys (docs/architecture.md, "Command line"): the dense model over the same positions, then fidelity. */
function compareJson({ dense, fidelity }: IdsComparisonReport) {
  return {
    densePpl: dense.ppl,
    denseNll: dense.nll,
    kl: fidelity.kl,
    top1Agreement: fidelity.top1Agreement,
    windowsAgreeing: fidelity.windowsAgreeing,
    firstDisagreementMean: fidelity.firstDisagreementMean,
    firstDisagreementMedian: fidelity.firstDisagreementMedian,
  };
}

function compareLine({ dense, fidelity }: IdsComparisonReport): string {
  const first =
    fidelity.firstDisagreementMedian === null ? 'no window disagrees' : `first disagreement at prediction ${fidelity.firstDisagreementMedian} (median)`;
  return (
    `dense ppl ${dense.ppl.toFixed(4)} on the same tokens; KL(dense || pruned) ${fidelity.kl.toFixed(6)} nats/token, ` +
    `top-1 agreement ${(100 * fidelity.top1Agreement).toFixed(2)}%, ${first}, ${fidelity.windowsAgreeing} of ${fidelity.windows} windows agree throughout`
  );
}

export const pplCommand: Command = {
  name: 'ppl',
  summary: 'perplexity (mean next-token NLL) of a model on token ids or a text file, on the GPU',
  usage: `ppl --model DIR (--ids IDS.json | --text FILE) [--ctx N] [--stride N] [--max-tokens N] [--batch N] [--masks MASKS.safetensors [--compare]] ${STEERING_USAGE} [--json]`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        ids: { type: 'string' },
        text: { type: 'string' },
        ctx: { type: 'string' },
        stride: { type: 'string' },
        'max-tokens': { type: 'string' },
        batch: { type: 'string' },
        masks: { type: 'string' },
        ...STEERING_FLAGS,
        compare: { type: 'boolean' },
        json: { type: 'boolean' },
      },
      'ppl',
    );
    const modelDir = flags.string('model');
    const idsFile = flags.optionalString('ids');
    const textFile = flags.optionalString('text');
    if ((idsFile === undefined) === (textFile === undefined)) throw new UsageError('ppl: give exactly one of --ids and --text');
    const masksFile = flags.optionalString('masks');
    const compare = flags.flag('compare');
    if (compare && masksFile === undefined)
      throw new UsageError('ppl: --compare needs --masks MASKS.safetensors (the pruning to compare with the dense model)');
    const steering = parseSteeringFlags('ppl', flags);
    const folder = await directoryFolder(modelDir);
    // The lab service the page's worker hosts: the model loads and runs through it (src/lab/token-runs.ts).
    const lab = nodeLab('moe-lab ppl');
    try {
      const model = await lab.loadFolder(folder);
      const { spec } = model;
      const maskSet = steeredMaskSet('ppl', spec, masksFile ? await readMasksFile(masksFile, spec, model.contentHash) : null, steering);
      if (textFile !== undefined && !model.tokenizer) {
        throw new ModelFileError(`${modelDir}/tokenizer.json`, 'missing-file', 'file not found (--text needs the model tokenizer; give --ids instead)');
      }
      const tokens = idsFile ? await readIdsFile(idsFile, spec) : lab.textTokenizer('--text').encode(await readFile(textFile!, 'utf8'));
      const maxTokens = flags.optionalNumber('max-tokens', { min: 2, integer: true });
      const available = Math.min(tokens.length, maxTokens ?? Infinity);
      const limit = contextLimit(spec);
      const fallbackCtx = idsFile ? available : Math.min(limit, DEFAULT_TEXT_CTX);
      const ctx = flags.number('ctx', fallbackCtx, { min: 2, integer: true });
      const stride = flags.number('stride', ctx, { min: 1, max: ctx, integer: true });
      const batch = flags.optionalNumber('batch', { min: 1, integer: true });
      if (ctx > limit) {
        throw new UsageError(
          `ppl: --ctx ${ctx} is longer than the model's context (${limit}: its positions${spec.slidingWindow !== null ? ' and sliding window; this engine attends to the whole window' : ''})`,
        );
      }
      if (available < 2) throw new UsageError(`ppl: ${idsFile ?? textFile} gives ${available} token(s); at least 2 are needed for one prediction`);
      const request = { ids: tokens, ctx, stride, maxTokens, batch, masks: maskSet };
      const compared = compare ? await lab.comparisonOfIds({ ...request, masks: maskSet! }) : null;
      const report = compared ?? (await lab.perplexityOfIds(request));
      const comparison = compared ? compareJson(compared) : {};
      if (flags.flag('json')) {
        io.out(JSON.stringify({ tokens: report.tokens, nll: report.nll, ppl: report.ppl, windows: report.windows, ctx, stride, ...comparison }));
      } else {
        io.out(
          `ppl ${report.ppl.toFixed(4)} (mean NLL ${report.nll.toFixed(6)} nats over ${report.tokens} tokens, ${report.windows} windows of ${ctx}, stride ${stride})`,
        );
        if (compared) io.out(compareLine(compared));
      }
    } finally {
      await lab.dispose();
    }
    return 0;
  },
};
