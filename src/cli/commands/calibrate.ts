/**
 * `moe-lab calibrate --model DIR (--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S])
 *  [--mode dense|sequential] --out STATS.safetensors [--batch-tokens N] [--json]`
 * Calibration statistics on the GPU (Node + Dawn), written as the contract's safetensors file (ARCHITECTURE.md;
 * names in src/engine/calibration/stats.ts). --ids: one window (a list of ids) or several of one length (a list
 * of lists). --text: the model's tokenizer encodes the whole file once without special tokens, then N windows of
 * L tokens start at seeded random offsets (src/engine/calibration/sampling.ts, docs/calibration.md).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { loadSummary } from '../../engine/calibration/router-health.ts';
import { DEFAULT_CALIBRATION, sampleWindows, windowsFromIds } from '../../engine/calibration/sampling.ts';
import { statsToSafetensors } from '../../engine/calibration/stats.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { modelContentHash } from '../../engine/experiment/model-hash.ts';
import { openCheckpoint, type Checkpoint } from '../../engine/model/checkpoint.ts';
import { loadTokenizer } from '../../engine/tokenizer.ts';
import { calibrateOnGpu, DEFAULT_TOKENS_PER_BATCH } from '../../gpu/calibration/calibrate.ts';
import { GpuModel } from '../../gpu/model/gpu-model.ts';
import { createNodeGpuContext } from '../../gpu/node.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import type { Command } from './command.ts';

/** Windows from IDS.json: a list of ids, or a list of equal-length lists; every id inside the vocabulary. */
async function readIdWindows(file: string, checkpoint: Checkpoint): Promise<number[][]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code) throw error;
    throw new ModelFileError(file, 'bad-json', `not valid JSON (${(error as Error).message})`);
  }
  let windows: number[][];
  try {
    windows = windowsFromIds(json, file);
  } catch (error) {
    throw new ModelFileError(file, 'bad-json', (error as Error).message.replace(`${file}: `, ''));
  }
  const V = checkpoint.spec.vocabSize;
  windows.forEach((w, i) => {
    const bad = w.findIndex((id) => id >= V);
    if (bad >= 0) throw new ModelFileError(file, 'bad-json', `window ${i}, entry ${bad}: token id ${w[bad]} is outside the vocabulary (0..${V - 1})`);
  });
  return windows;
}

/** The whole text file tokenized once, without special tokens (the sampling rule of sampling.ts). */
async function readTextStream(file: string, checkpoint: Checkpoint, modelDir: string): Promise<number[]> {
  if (!checkpoint.tokenizerJson) {
    throw new ModelFileError(`${modelDir}/tokenizer.json`, 'missing-file', 'file not found (--text needs the model tokenizer; give --ids instead)');
  }
  const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig, `${modelDir}/tokenizer.json`);
  return tokenizer.encode(await readFile(file, 'utf8'), { addSpecialTokens: false });
}

export const calibrateCommand: Command = {
  name: 'calibrate',
  summary: 'calibration statistics (per-expert input norms, routing, router health) on the GPU, as safetensors',
  usage:
    'calibrate --model DIR (--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S]) [--mode dense|sequential] --out STATS.safetensors [--batch-tokens N] [--json]',
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        ids: { type: 'string' },
        text: { type: 'string' },
        samples: { type: 'string' },
        'seq-len': { type: 'string' },
        seed: { type: 'string' },
        mode: { type: 'string' },
        method: { type: 'string' },
        out: { type: 'string' },
        'batch-tokens': { type: 'string' },
        json: { type: 'boolean' },
      },
      'calibrate',
    );
    const modelDir = flags.string('model');
    const out = flags.string('out');
    const idsFile = flags.optionalString('ids');
    const textFile = flags.optionalString('text');
    if ((idsFile === undefined) === (textFile === undefined)) throw new UsageError('calibrate: give exactly one of --ids and --text');
    if (idsFile && ['samples', 'seq-len', 'seed'].some((f) => flags.values[f] !== undefined)) {
      throw new UsageError('calibrate: --samples, --seq-len and --seed draw windows from --text; with --ids the file gives the windows');
    }
    const mode = flags.optionalString('mode') ?? 'dense';
    if (mode !== 'dense' && mode !== 'sequential') throw new UsageError(`calibrate: --mode must be dense or sequential (got ${JSON.stringify(mode)})`);
    if (mode === 'sequential') {
      throw new UsageError(
        'calibrate: --mode sequential prunes each layer before the next one is measured, so it needs a pruning method; ' +
          'the pruning engine does not offer per-layer pruning to the CLI yet, so only --mode dense is available',
      );
    }
    if (flags.optionalString('method') !== undefined) throw new UsageError('calibrate: --method only applies with --mode sequential');
    const samples = flags.number('samples', DEFAULT_CALIBRATION.samples, { min: 1, integer: true });
    const seqLen = flags.number('seq-len', DEFAULT_CALIBRATION.seqLen, { min: 2, integer: true });
    const seed = flags.number('seed', DEFAULT_CALIBRATION.seed, { min: 0, max: 0xffffffff, integer: true });
    const tokensPerBatch = flags.number('batch-tokens', DEFAULT_TOKENS_PER_BATCH, { min: 1, integer: true });

    const folder = await directoryFolder(modelDir);
    const checkpoint = await openCheckpoint(folder);
    const { spec } = checkpoint;
    let windows: number[][];
    const metadata: Record<string, string> = { model_hash: await modelContentHash(folder, checkpoint.files) };
    if (idsFile) {
      windows = await readIdWindows(idsFile, checkpoint);
      metadata.source = `ids:${idsFile}`;
    } else {
      const stream = await readTextStream(textFile!, checkpoint, modelDir);
      if (stream.length < seqLen) throw new UsageError(`calibrate: ${textFile} has ${stream.length} tokens, fewer than one window of --seq-len ${seqLen}`);
      windows = sampleWindows(stream, { samples, seqLen, seed });
      Object.assign(metadata, { source: `text:${textFile}`, samples: String(samples), seq_len: String(seqLen), seed: String(seed), text_tokens: String(stream.length) });
    }
    const windowLength = windows[0].length;
    if (spec.slidingWindow !== null && windowLength > spec.slidingWindow) {
      throw new UsageError(`calibrate: windows of ${windowLength} tokens are longer than the model's sliding window (${spec.slidingWindow})`);
    }
    if (!spec.moeLayers.some(Boolean)) throw new UsageError(`calibrate: ${modelDir} has no MoE layer to calibrate`);

    const started = performance.now();
    const gpu = await createNodeGpuContext({ label: 'moe-lab calibrate' });
    try {
      const model = await GpuModel.upload(gpu, checkpoint);
      try {
        const { stats } = await calibrateOnGpu(model, windows, { mode, tokensPerBatch });
        stats.metadata = { ...metadata, windows: String(windows.length), window_length: String(windowLength) };
        await writeFile(out, statsToSafetensors(stats));
        const seconds = (performance.now() - started) / 1000;
        const layers = stats.layers.flatMap((s, layer) => {
          if (!s) return [];
          const load = loadSummary(s);
          return [{ layer, coefficientOfVariation: load.coefficientOfVariation, maxOverMean: load.maxOverMean, lowLoadExperts: load.lowLoadExperts }];
        });
        if (flags.flag('json')) {
          io.out(JSON.stringify({ out, mode, tokens: stats.tokens, windows: windows.length, windowLength, seconds, layers }));
        } else {
          const worst = layers.reduce((m, l) => Math.max(m, l.maxOverMean), 0);
          io.out(`${out}: ${mode} statistics of ${stats.tokens} tokens (${windows.length} windows of ${windowLength}), ${layers.length} MoE layers, busiest expert ${worst.toFixed(2)}x the mean load, ${seconds.toFixed(1)} s`);
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
