/**
 * Flags shared by `moe-lab prune` and `moe-lab calibrate --mode sequential` (which prunes layer by layer while it
 * measures): the pruning settings (src/engine/prune/pipeline-settings.ts) and the calibration set — `--ids`
 * windows, or seeded windows of `--text` through the model tokenizer (docs/calibration.md), or a statistics file
 * to reuse (`--stats`, prune only).
 */
import { readFile } from 'node:fs/promises';
import { DEFAULT_CALIBRATION, windowsFromIds } from '../../engine/calibration/sampling.ts';
import { statsFromSafetensors, type CalibrationStats } from '../../engine/calibration/stats.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { readSafetensorsHeader } from '../../engine/io/safetensors.ts';
import type { Checkpoint } from '../../engine/model/checkpoint.ts';
import {
  DEFAULT_OWL,
  EXPERT_CRITERIA,
  PIPELINE_METHODS,
  PRUNE_TARGETS,
  pipelineSettings,
  type PipelineSettings,
} from '../../engine/prune/pipeline-settings.ts';
import type { CalibrationInfo } from '../../engine/prune/report.ts';
import { parsePattern, PRUNE_GROUPS, PruneRequestError } from '../../engine/prune/settings.ts';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DAMP } from '../../engine/sparsegpt/settings.ts';
import { loadTokenizer } from '../../engine/tokenizer.ts';
import { drawCalibrationWindows } from '../../lab/calibration.ts';
import { contextLimit } from '../../lab/lab-session.ts';
import { UsageError, type FlagSpec, type ParsedFlags } from '../args.ts';
import { FileByteSource } from '../fs-folder.ts';

/** Windows from IDS.json: a list of ids, or a list of equal-length lists; every id inside the vocabulary. */
export async function readIdWindows(file: string, checkpoint: Checkpoint): Promise<number[][]> {
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
export async function readTextStream(file: string, checkpoint: Checkpoint, modelDir: string): Promise<number[]> {
  if (!checkpoint.tokenizerJson) {
    throw new ModelFileError(`${modelDir}/tokenizer.json`, 'missing-file', 'file not found (--text needs the model tokenizer; give --ids instead)');
  }
  const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig, `${modelDir}/tokenizer.json`);
  return tokenizer.encode(await readFile(file, 'utf8'), { addSpecialTokens: false });
}

export const CALIBRATION_FLAGS: FlagSpec = {
  ids: { type: 'string' },
  text: { type: 'string' },
  samples: { type: 'string' },
  'seq-len': { type: 'string' },
  seed: { type: 'string' },
  'batch-tokens': { type: 'string' },
};

export const PRUNE_FLAGS: FlagSpec = {
  method: { type: 'string' },
  sparsity: { type: 'string' },
  pattern: { type: 'string' },
  group: { type: 'string' },
  targets: { type: 'string' },
  'experts-drop': { type: 'string' },
  'expert-criterion': { type: 'string' },
  allocation: { type: 'string' },
  'owl-lambda': { type: 'string' },
  'owl-m': { type: 'string' },
  blocksize: { type: 'string' },
  damp: { type: 'string' },
};

export const PRUNE_USAGE =
  '--method magnitude|wanda|moe-pruner|random|sparsegpt --sparsity S [--pattern unstructured|N:M] [--group row|matrix|layer] ' +
  '[--targets experts[,attention][,shared]] [--experts-drop R --expert-criterion frequency|gate|reap] [--allocation uniform|owl [--owl-lambda L] [--owl-m M]] ' +
  '[--blocksize B] [--damp D]';

function oneOf<T extends string>(flags: ParsedFlags, name: string, allowed: readonly T[], fallback: T, command: string): T {
  const value = flags.optionalString(name) ?? fallback;
  if (!allowed.includes(value as T)) throw new UsageError(`${command}: --${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

/** The pipeline settings the flags ask for (checked against the model later, by the pipeline). */
export function settingsFromFlags(flags: ParsedFlags, mode: 'dense' | 'sequential', command: string): PipelineSettings {
  const method = oneOf(flags, 'method', PIPELINE_METHODS, PIPELINE_METHODS[0], command);
  if (flags.optionalString('method') === undefined) throw new UsageError(`${command}: --method is required (${PIPELINE_METHODS.join(', ')})`);
  let pattern;
  try {
    pattern = parsePattern(flags.optionalString('pattern') ?? 'unstructured');
  } catch (error) {
    throw new UsageError(`${command}: --pattern: ${(error as Error).message}`);
  }
  const sparsity = flags.optionalNumber('sparsity', { min: 0, max: 0.95 });
  if (sparsity === undefined && pattern.kind === 'unstructured')
    throw new UsageError(`${command}: --sparsity is required for unstructured pruning (0..0.95; 0 with --experts-drop drops experts only)`);
  const targets = (flags.optionalString('targets') ?? 'experts').split(',').map((t) => t.trim());
  for (const t of targets)
    if (!PRUNE_TARGETS.includes(t as never)) throw new UsageError(`${command}: --targets lists ${JSON.stringify(t)}; choose from ${PRUNE_TARGETS.join(', ')}`);
  return pipelineSettings({
    method,
    pattern,
    group: oneOf(flags, 'group', PRUNE_GROUPS, 'row', command),
    sparsity: pattern.kind === 'n:m' ? 1 - pattern.keep / pattern.block : sparsity!,
    seed: flags.number('seed', DEFAULT_CALIBRATION.seed, { min: 0, max: 0xffffffff, integer: true }),
    targets: targets as PipelineSettings['targets'],
    expertsDrop: flags.number('experts-drop', 0, { min: 0, integer: true }),
    expertCriterion: oneOf(flags, 'expert-criterion', EXPERT_CRITERIA, 'frequency', command),
    allocation: oneOf(flags, 'allocation', ['uniform', 'owl'] as const, 'uniform', command),
    owl: {
      lambda: flags.number('owl-lambda', DEFAULT_OWL.lambda, { min: 0, max: 0.5 }),
      outlierFactor: flags.number('owl-m', DEFAULT_OWL.outlierFactor, { min: 0 }),
    },
    mode,
    sparseGpt: {
      blockSize: flags.number('blocksize', DEFAULT_BLOCK_SIZE, { min: 1, integer: true }),
      damp: flags.number('damp', DEFAULT_DAMP, { min: 0, max: 1 }),
    },
  });
}

export interface CalibrationInput {
  windows: number[][];
  /** For the statistics file's metadata (docs/calibration.md). */
  metadata: Record<string, string>;
  info: Partial<CalibrationInfo>;
}

/**
 * The calibration windows of --ids or --text (null when neither is given). --seq-len defaults to 512, clamped to
 * the model's context (and sliding window), so small models work with the defaults.
 */
export async function calibrationFromFlags(flags: ParsedFlags, checkpoint: Checkpoint, modelDir: string, command: string): Promise<CalibrationInput | null> {
  const idsFile = flags.optionalString('ids');
  const textFile = flags.optionalString('text');
  if (idsFile !== undefined && textFile !== undefined) throw new UsageError(`${command}: give one of --ids and --text, not both`);
  if (idsFile && ['samples', 'seq-len'].some((f) => flags.values[f] !== undefined)) {
    throw new UsageError(`${command}: --samples and --seq-len draw windows from --text; with --ids the file gives the windows`);
  }
  const context = contextLimit(checkpoint.spec);
  let windows: number[][];
  let metadata: Record<string, string>;
  let info: Partial<CalibrationInfo>;
  if (idsFile) {
    windows = await readIdWindows(idsFile, checkpoint);
    metadata = { source: `ids:${idsFile}` };
    info = { source: `ids:${idsFile}` };
  } else if (textFile) {
    const samples = flags.number('samples', DEFAULT_CALIBRATION.samples, { min: 1, integer: true });
    const seqLen = flags.number('seq-len', Math.min(DEFAULT_CALIBRATION.seqLen, context), { min: 2, integer: true });
    const seed = flags.number('seed', DEFAULT_CALIBRATION.seed, { min: 0, max: 0xffffffff, integer: true });
    const stream = await readTextStream(textFile, checkpoint, modelDir);
    // The page's rule (src/lab/calibration.ts), so the same text and settings give the page's windows.
    try {
      windows = drawCalibrationWindows(stream, { samples, seqLen, seed }, context);
    } catch (error) {
      throw new UsageError(`${command}: ${textFile}: ${(error as Error).message} (--seq-len ${seqLen})`);
    }
    metadata = { source: `text:${textFile}`, samples: String(samples), seq_len: String(seqLen), seed: String(seed), text_tokens: String(stream.length) };
    info = { source: `text:${textFile}`, samples, seqLen, seed };
  } else {
    return null;
  }
  if (windows[0].length > context) throw new UsageError(`${command}: windows of ${windows[0].length} tokens are longer than the model's context (${context})`);
  return { windows, metadata, info };
}

/** A statistics file made by `moe-lab calibrate` for this model (its model_hash, when present, must match). */
export async function readStatsFile(file: string, checkpoint: Checkpoint, modelHash: string): Promise<CalibrationStats> {
  const source = new FileByteSource(file);
  const header = await readSafetensorsHeader(source);
  const stats = statsFromSafetensors(checkpoint.spec, header, await source.read(0, await source.size()));
  const hash = header.metadata.model_hash;
  if (hash && hash !== modelHash)
    throw new ModelFileError(file, 'bad-header', `statistics of another model (model_hash ${hash.slice(0, 16)}…, this model ${modelHash.slice(0, 16)}…)`);
  return stats;
}

/** Runs `body`, turning a pruning request the engine refuses into a one-line usage error. */
export async function asUsageErrors<T>(command: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    if (error instanceof PruneRequestError) throw new UsageError(`${command}: ${error.message}`);
    throw error;
  }
}
