/**
 * `moe-lab ppl --model DIR (--ids IDS.json | --text FILE) [--ctx N] [--stride N] [--max-tokens N] [--batch N] --json`
 * Perplexity on the GPU (Node + Dawn). With --ids the list is one window by default (ctx = its length): T-1
 * predictions, exactly the shifted cross-entropy transformers reports. With --text the model's tokenizer.json
 * encodes the file (special tokens as `tokenizer(text)` adds them), then windows of --ctx tokens every --stride
 * tokens are scored (src/engine/eval/windows.ts; non-overlapping by default). --masks MASKS.safetensors (from
 * `moe-lab prune` or `calibrate --masks-out`) evaluates a pruning of this dense model without exporting it: the masks
 * apply on the fly, dropped experts leave the routing (src/engine/prune/masks-file.ts).
 */
import { readFile } from 'node:fs/promises';
import { ModelFileError } from '../../engine/errors.ts';
import { parseTokenIds } from '../../engine/eval/ids.ts';
import { modelContentHash } from '../../engine/experiment/model-hash.ts';
import { readSafetensorsHeader } from '../../engine/io/safetensors.ts';
import type { MaskSet } from '../../engine/model/mask-set.ts';
import { masksFromSafetensors } from '../../engine/prune/masks-file.ts';
import { openCheckpoint, type Checkpoint } from '../../engine/model/checkpoint.ts';
import { loadTokenizer } from '../../engine/tokenizer.ts';
import { evaluatePerplexity } from '../../gpu/eval/perplexity.ts';
import { GpuModel } from '../../gpu/model/gpu-model.ts';
import { uploadMasks, type GpuMaskSet } from '../../gpu/model/gpu-mask-set.ts';
import { createNodeGpuContext } from '../../gpu/node.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder, FileByteSource, type DirectoryFolder } from '../fs-folder.ts';
import type { Command } from './command.ts';

/** Default window for --text: the model's context, at most 2048 tokens (Wanda's and SparseGPT's LLaMA setting). */
export const DEFAULT_TEXT_CTX = 2048;

/** Token ids from --ids IDS.json (checked against the vocabulary). */
export async function readIdsFile(file: string, checkpoint: Checkpoint): Promise<number[]> {
  return parseTokenIds(file, await readFile(file, 'utf8'), checkpoint.spec.vocabSize);
}

async function readTextTokens(file: string, checkpoint: Checkpoint, modelDir: string): Promise<number[]> {
  if (!checkpoint.tokenizerJson)
    throw new ModelFileError(`${modelDir}/tokenizer.json`, 'missing-file', 'file not found (--text needs the model tokenizer; give --ids instead)');
  const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig, `${modelDir}/tokenizer.json`);
  return tokenizer.encode(await readFile(file, 'utf8'));
}

/** masks.safetensors for this model (refused when its model_hash names another model). */
export async function readMasksFile(file: string, checkpoint: Checkpoint, folder: DirectoryFolder): Promise<MaskSet> {
  const source = new FileByteSource(file);
  const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
  const masks = masksFromSafetensors(checkpoint.spec, header, await source.read(0, await source.size()));
  const hash = header.metadata.model_hash;
  if (hash && hash !== (await modelContentHash(folder, checkpoint.files))) {
    throw new ModelFileError(file, 'bad-header', `masks of another model (model_hash ${hash.slice(0, 16)}…); give the dense model they were made on`);
  }
  return masks;
}

export const pplCommand: Command = {
  name: 'ppl',
  summary: 'perplexity (mean next-token NLL) of a model on token ids or a text file, on the GPU',
  usage: 'ppl --model DIR (--ids IDS.json | --text FILE) [--ctx N] [--stride N] [--max-tokens N] [--batch N] [--masks MASKS.safetensors] [--json]',
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
        json: { type: 'boolean' },
      },
      'ppl',
    );
    const modelDir = flags.string('model');
    const idsFile = flags.optionalString('ids');
    const textFile = flags.optionalString('text');
    if ((idsFile === undefined) === (textFile === undefined)) throw new UsageError('ppl: give exactly one of --ids and --text');
    const masksFile = flags.optionalString('masks');
    const folder = await directoryFolder(modelDir);
    const checkpoint = await openCheckpoint(folder);
    const maskSet = masksFile ? await readMasksFile(masksFile, checkpoint, folder) : null;
    const { spec } = checkpoint;
    const tokens = idsFile ? await readIdsFile(idsFile, checkpoint) : await readTextTokens(textFile!, checkpoint, modelDir);
    const maxTokens = flags.optionalNumber('max-tokens', { min: 2, integer: true });
    const available = Math.min(tokens.length, maxTokens ?? Infinity);
    const fallbackCtx = idsFile ? available : Math.min(spec.maxPositions, DEFAULT_TEXT_CTX);
    const ctx = flags.number('ctx', fallbackCtx, { min: 2, integer: true });
    const stride = flags.number('stride', ctx, { min: 1, max: ctx, integer: true });
    const batch = flags.optionalNumber('batch', { min: 1, integer: true });
    if (spec.slidingWindow !== null && ctx > spec.slidingWindow) {
      throw new UsageError(`ppl: --ctx ${ctx} is longer than the model's sliding window (${spec.slidingWindow}); this engine attends to the whole window`);
    }
    if (available < 2) throw new UsageError(`ppl: ${idsFile ?? textFile} gives ${available} token(s); at least 2 are needed for one prediction`);

    const gpu = await createNodeGpuContext({ label: 'moe-lab ppl' });
    try {
      const model = await GpuModel.upload(gpu, checkpoint);
      try {
        let masks: GpuMaskSet | null = null;
        let report;
        try {
          masks = maskSet ? await uploadMasks(model, maskSet) : null;
          report = await evaluatePerplexity(model, tokens, { ctx, stride, maxTokens, batch, masks });
        } finally {
          masks?.destroy();
        }
        if (flags.flag('json')) {
          io.out(JSON.stringify({ tokens: report.tokens, nll: report.nll, ppl: report.ppl, windows: report.windows, ctx, stride }));
        } else {
          io.out(
            `ppl ${report.ppl.toFixed(4)} (mean NLL ${report.nll.toFixed(6)} nats over ${report.tokens} tokens, ${report.windows} windows of ${ctx}, stride ${stride})`,
          );
        }
      } finally {
        model.destroy();
      }
    } finally {
      gpu.destroy();
    }
    return 0;
  },
};
