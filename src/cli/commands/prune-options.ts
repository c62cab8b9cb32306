/**
 * Flags shared by `moe-lab prune` and `moe-lab calibrate --mode sequential` (which prunes layer by layer while it
 * measures): the pruning settings (src/engine/prune/pipeline-settings.ts) and the calibration set — `--ids`
 * windows, or seeded windows of `--text` through the model tokenizer (docs/calibration.md), or a statistics file
 * to reuse (`--stats`, prune only).
 */
import { readFile } from 'node:fs/promises';
import { windowsFromIds } from '../../engine/calibration/sampling.ts';
import { statsFromSafetensors, type CalibrationStats } from '../../engine/calibration/stats.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { readSafetensorsHeader } from '../../engine/io/safetensors.ts';
import type { Checkpoint } from '../../engine/model/checkpoint.ts';
import { formatPattern, readPattern } from '../../engine/experiment/schema.ts';
import {
  sectionDefaults,
  SETTING_NAMES,
  SETTINGS,
  settingOf,
  usageOf,
  withSetting,
  type ChoiceSetting,
  type NumberSetting,
  type Section,
  type SectionValues,
  type SettingName,
  type SubsetSetting,
} from '../../engine/experiment/vocabulary.ts';
import { pipelineSettings, type PipelineSettings } from '../../engine/prune/pipeline-settings.ts';
import type { CalibrationInfo } from '../../engine/prune/report.ts';
import { PruneRequestError } from '../../engine/prune/settings.ts';
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

/** The flags of vocabulary rows (src/engine/experiment/vocabulary.ts), all read as strings and checked here. */
function flagsOf(names: readonly SettingName[]): FlagSpec {
  return Object.fromEntries(names.map((name) => [settingOf(name).cli!, { type: 'string' as const }]));
}

/** A section's rows that have a flag, in table order (CLI-only rows, such as OWL's constants, included). */
function flagRows(section: Section): SettingName[] {
  return SETTING_NAMES.filter((name) => SETTINGS[name].section === section && SETTINGS[name].cli !== null);
}

const CALIBRATION_SETTINGS = ['samples', 'seqLen', 'seed'] as const;

export const CALIBRATION_FLAGS: FlagSpec = {
  ids: { type: 'string' },
  text: { type: 'string' },
  ...flagsOf(CALIBRATION_SETTINGS),
  'batch-tokens': { type: 'string' },
};

/** Every pruning row's flag. */
export const PRUNE_FLAGS: FlagSpec = flagsOf(flagRows('prune'));

/** Every quantize row's flag (`moe-lab quantize`; --bits is its own: the row's none / mixed are no flag values). */
export const QUANTIZE_FLAGS: FlagSpec = flagsOf(flagRows('quantize'));

/** The quantize rows' usage, in table order, each optional. */
export const QUANTIZE_USAGE = flagRows('quantize')
  .map((name) => `[${usageOf(name)}]`)
  .join(' ');

/** `--mode dense|sequential`. */
export const MODE_USAGE = usageOf('mode');

/** The pruning rows' usage, in table order; optional flags in brackets. */
export const PRUNE_USAGE = flagRows('prune')
  .map((name) => (settingOf(name).required ? usageOf(name) : `[${usageOf(name)}]`))
  .join(' ');

/** A choice flag's value (the vocabulary's default when absent). */
function choiceFlag<V extends string>(flags: ParsedFlags, s: ChoiceSetting<V>, command: string): V {
  const value = flags.optionalString(s.cli!) ?? s.default;
  if (!(s.values as readonly string[]).includes(value))
    throw new UsageError(`${command}: --${s.cli} must be one of ${s.values.join(', ')} (got ${JSON.stringify(value)})`);
  return value as V;
}

/** --mode: how statistics are measured (the vocabulary's `mode` row; dense when absent). */
export function modeFromFlags(flags: ParsedFlags, command: string): PipelineSettings['mode'] {
  return choiceFlag(flags, SETTINGS.mode, command);
}

/** A number flag within the vocabulary's limits (its default when absent, unless `fallback` says otherwise). */
export function numberFlag(flags: ParsedFlags, s: NumberSetting, fallback = s.default): number {
  return flags.number(s.cli!, fallback, { min: s.min, max: s.max, integer: s.integer });
}

function subsetFlag<V extends string>(flags: ParsedFlags, s: SubsetSetting<V>, command: string): V[] {
  const raw = flags.optionalString(s.cli!);
  if (raw === undefined) return [...s.default];
  const items = raw.split(',').map((t) => t.trim());
  for (const t of items)
    if (!(s.values as readonly string[]).includes(t))
      throw new UsageError(`${command}: --${s.cli} lists ${JSON.stringify(t)}; choose from ${s.values.join(', ')}`);
  return items as V[];
}

/** A row's value from its flag (the row's default when absent), checked against the row. */
function flagValue(flags: ParsedFlags, name: SettingName, command: string): unknown {
  const s = settingOf(name);
  switch (s.kind) {
    case 'choice':
      return choiceFlag(flags, s, command);
    case 'subset':
      return subsetFlag(flags, s, command);
    case 'number':
      return numberFlag(flags, s);
    case 'pattern': {
      const pattern = readPattern(flags.optionalString(s.cli!) ?? formatPattern(s.default));
      if ('error' in pattern) throw new UsageError(`${command}: --${s.cli}: pattern ${pattern.error}`);
      return pattern;
    }
    case 'text':
    case 'switches':
      throw new Error(`${name}: a ${s.kind} row is not read from a prune flag`);
  }
}

/** A section of the experiment from the flags of its rows (each absent flag: the row's default). */
export function sectionFromFlags<S extends Section>(flags: ParsedFlags, section: S, command: string): SectionValues<S> {
  const defaults = sectionDefaults(section) as object;
  const names = flagRows(section).filter((name) => settingOf(name).at !== null);
  return names.reduce((o, name) => withSetting(o, name, flagValue(flags, name, command)), defaults) as SectionValues<S>;
}

/** The pipeline settings the flags ask for (checked against the model later, by the pipeline); absent flags take the vocabulary's defaults. */
export function settingsFromFlags(flags: ParsedFlags, mode: PipelineSettings['mode'], command: string): PipelineSettings {
  const S = SETTINGS;
  if (flags.optionalString(S.method.cli!) === undefined) throw new UsageError(`${command}: --${S.method.cli} is required (${S.method.values.join(', ')})`);
  const prune = sectionFromFlags(flags, 'prune', command);
  const pattern = prune.pattern;
  if (flags.optionalString(S.sparsity.cli!) === undefined && pattern.kind === 'unstructured')
    throw new UsageError(
      `${command}: --sparsity is required for unstructured pruning (${S.sparsity.min}..${S.sparsity.max}; 0 with --experts-drop drops experts only)`,
    );
  return pipelineSettings({
    ...prune,
    // N:M fixes the sparsity at 1 - N/M.
    sparsity: pattern.kind === 'n:m' ? 1 - pattern.n / pattern.m : prune.sparsity,
    seed: numberFlag(flags, S.seed),
    owl: { lambda: numberFlag(flags, S.owlLambda), outlierFactor: numberFlag(flags, S.owlM) },
    mode,
  });
}

/** --samples, --seq-len and --seed (the page's defaults when absent; --seq-len's clamped to the model's `context`). */
export function samplingFromFlags(flags: ParsedFlags, context: number): { samples: number; seqLen: number; seed: number } {
  return {
    samples: numberFlag(flags, SETTINGS.samples),
    seqLen: numberFlag(flags, SETTINGS.seqLen, Math.min(SETTINGS.seqLen.default, context)),
    seed: numberFlag(flags, SETTINGS.seed),
  };
}

export interface CalibrationInput {
  windows: number[][];
  /** For the statistics file's metadata (docs/calibration.md). */
  metadata: Record<string, string>;
  info: Partial<CalibrationInfo>;
}

/**
 * The calibration windows of --ids or --text (null when neither is given). --samples, --seq-len and --seed default
 * to the page's (the vocabulary's) values, --seq-len clamped to the model's context (and sliding window), so the
 * same settings give the page's windows and masks.
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
    const { samples, seqLen, seed } = samplingFromFlags(flags, context);
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
