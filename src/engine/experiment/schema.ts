/**
 * The experiment: everything a share link carries to reproduce what one person saw (docs/ui.md, "Share links"). The
 * pipeline is deterministic, so the same model (checked by its content hash), calibration text, sample count,
 * length, seed and pruning settings give the same masks and numbers.
 *
 * Schema version 1. Its defaults and value sets are frozen: a v1 link must mean the same thing forever. A
 * change of meaning needs version 2 and a reader for v1 (src/engine/experiment/url.ts).
 */

import { parseModelLocation, type ModelLocation } from '../io/hub-location.ts';
import {
  DEFAULT_EMBEDDED_MODEL,
  DEFAULT_TEXT,
  PATTERN,
  sectionDefaults,
  SETTING_NAMES,
  SETTINGS,
  settingOf,
  type CalibrationText,
  type ChoiceOf,
  type NumberSetting,
  type SectionValues,
  type SettingName,
  type SparsityPattern,
} from './vocabulary.ts';

export const EXPERIMENT_VERSION = 1;

export const MODEL_SOURCE_KINDS = ['embedded', 'hub', 'files'] as const;
// The settings' value sets come from the vocabulary (vocabulary.ts), in their canonical order.
export const CALIBRATION_MODES = SETTINGS.mode.values;
export const PRUNE_METHODS = SETTINGS.method.values;
export const PRUNE_GROUPS = SETTINGS.group.values;
export const ALLOCATIONS = SETTINGS.allocation.values;
export const EXPERT_CRITERIA = SETTINGS.expertCriterion.values;
export const PRUNE_TARGETS = SETTINGS.targets.values;
export const PANELS = ['model', 'inspect', 'calibrate', 'prune', 'evaluate'] as const;
/** Controls a teacher may hide with `hide=` (classroom mode). Grows as the page does; unknown names are noted. */
export const HIDEABLE_CONTROLS = [
  'model-source',
  'gpu',
  'calibration',
  'method',
  'sparsity',
  'pattern',
  'group',
  'allocation',
  'expert-drop',
  'targets',
  'share',
] as const;

export type ModelSourceKind = (typeof MODEL_SOURCE_KINDS)[number];
export type CalibrationMode = ChoiceOf<typeof SETTINGS.mode>;
export type PruneMethod = ChoiceOf<typeof SETTINGS.method>;
export type PruneGroup = ChoiceOf<typeof SETTINGS.group>;
export type Allocation = ChoiceOf<typeof SETTINGS.allocation>;
export type ExpertCriterion = ChoiceOf<typeof SETTINGS.expertCriterion>;
export type PruneTarget = ChoiceOf<typeof SETTINGS.targets>;
export type Panel = (typeof PANELS)[number];
export type HideableControl = (typeof HIDEABLE_CONTROLS)[number];

export type { CalibrationText, SparsityPattern };

export interface ExperimentModel {
  source: ModelSourceKind;
  /** Embedded model id, remote id (canonicalRemoteId: `org/name[@rev]` or an https URL), or the dropped folder's name (informative only). */
  id: string;
  /** First SHORT_HASH_LENGTH hex characters of the content hash (model-hash.ts); null until a model is loaded. */
  hash: string | null;
}

// The settings' sections are laid out by the vocabulary's rows (their `at` paths), so a new setting is a row there
// and nothing here. For the meaning of each field, see its row's help.
/** Calibration: text, samples, seqLen, seed, mode. */
export type ExperimentCalibration = SectionValues<'calibration'>;
/**
 * Pruning: method, sparsity (with OWL the mean over layers), pattern, group, allocation, expertsDrop,
 * expertCriterion, targets (a non-empty subset in canonical order), sparseGpt { blockSize, damp } (used by
 * sparsegpt only; added to v1 after its first release: links without them mean the defaults).
 */
export type ExperimentPrune = SectionValues<'prune'>;
/** How perplexity is measured: which text, window length ctx, tokens read maxTokens (split over genres when per genre). Added to v1 after its first release. */
export type ExperimentEvaluation = SectionValues<'evaluation'>;
/**
 * The Recover step: expert-wise distillation of the pruned model toward the dense one (docs/distillation.md): text
 * (null: the calibration text), samples, seqLen, seed, steps per MoE layer, lr, batch (windows per step). Added to
 * v1 after its first release: links without its keys mean the defaults.
 */
export type ExperimentRecover = SectionValues<'recover'>;

/**
 * Quantization of the routed experts after the pruning (or alone): bits (none, a width, or mixed under avgBits),
 * method, groupSize, allocation, damp (docs/quantization.md). Added to v1 after its first release: links without its
 * keys mean "not quantized".
 */
export type ExperimentQuantize = SectionValues<'quantize'>;

/** The Benchmarks step's selection: tasks (the shipped BLiMP subset, a field or paradigm of it, or an uploaded file by hash) and limit. Added to v1 after its first release. */
export type ExperimentBenchmark = SectionValues<'benchmark'>;

export interface ExperimentView {
  panel: Panel;
  layer: number;
}

export interface Experiment {
  model: ExperimentModel;
  calibration: ExperimentCalibration;
  prune: ExperimentPrune;
  /** Added to v1 after its first release: links without its keys mean the defaults (not quantized). */
  quantize: ExperimentQuantize;
  /** Added to v1 after its first release: links without these keys mean the defaults below. */
  evaluation: ExperimentEvaluation;
  /** Added to v1 after its first release: links without its keys mean the defaults. */
  benchmark: ExperimentBenchmark;
  recover: ExperimentRecover;
  view: ExperimentView;
  /** Controls hidden from the page (classroom mode), kept in HIDEABLE_CONTROLS order. */
  hide: HideableControl[];
  /** Start the guided tour. */
  tour: boolean;
}

type NumberRowName = { [N in SettingName]: (typeof SETTINGS)[N] extends NumberSetting ? N : never }[SettingName];

/** Ranges every value is validated and clamped against: each number row's, plus the view's and the pattern's M. */
export const LIMITS = {
  ...(Object.fromEntries(
    SETTING_NAMES.flatMap((name) => {
      const s = settingOf(name);
      return s.kind === 'number' ? [[name, { min: s.min, max: s.max }]] : [];
    }),
  ) as Record<NumberRowName, { min: number; max: number }>),
  layer: { min: 0, max: 1023 },
  patternM: { min: PATTERN.minM, max: PATTERN.maxM },
} as const;

export { DEFAULT_EMBEDDED_MODEL };
export const DEFAULT_CALIBRATION_TEXT = DEFAULT_TEXT;

/** The v1 defaults (frozen: see the file comment), from the vocabulary. */
export function defaultExperiment(): Experiment {
  return {
    model: { source: 'embedded', id: DEFAULT_EMBEDDED_MODEL, hash: null },
    calibration: sectionDefaults('calibration'),
    prune: defaultPrune(),
    quantize: sectionDefaults('quantize'),
    evaluation: sectionDefaults('evaluation'),
    benchmark: sectionDefaults('benchmark'),
    recover: defaultRecover(),
    view: { panel: 'model', layer: 0 },
    hide: [],
    tour: false,
  };
}

/** The Recover step's defaults (the CLI's `moe-lab distill` takes the same). */
export function defaultRecover(): ExperimentRecover {
  return sectionDefaults('recover');
}

/** The v1 pruning defaults. */
export function defaultPrune(): ExperimentPrune {
  return sectionDefaults('prune');
}

/**
 * The id a share link carries for a remote model: `org/name` or `org/name@revision` for a Hub repo, else the
 * https URL as given (a Hub tree URL with a sub-folder, or any https model folder). Null when
 * parseModelLocation (src/engine/io/hub-location.ts) refuses the text. Idempotent, so links round-trip.
 */
export function canonicalRemoteId(text: string): string | null {
  let location: ModelLocation;
  try {
    location = parseModelLocation(text);
  } catch {
    return null;
  }
  const repoForm = location.repo && location.revision ? (location.revision === 'main' ? location.repo : `${location.repo}@${location.revision}`) : null;
  return repoForm !== null && location.name === repoForm ? repoForm : text.trim();
}

/** `a` in canonical order and without repeats, keeping only members of `order`. */
export function canonicalSubset<T extends string>(values: readonly string[], order: readonly T[]): T[] {
  return order.filter((v) => values.includes(v));
}

/** The pattern as links and flags write it: `unstructured` or `N:M`. */
export function formatPattern(pattern: SparsityPattern): string {
  return pattern.kind === 'unstructured' ? 'unstructured' : `${pattern.n}:${pattern.m}`;
}

/** Reads `unstructured` or `N:M` (1 <= N < M, PATTERN.minM <= M <= PATTERN.maxM); otherwise says why not. */
export function readPattern(text: string): SparsityPattern | { error: string } {
  if (text === 'unstructured') return { kind: 'unstructured' };
  const match = /^(\d{1,2}):(\d{1,2})$/.exec(text.trim());
  const n = Number(match?.[1]);
  const m = Number(match?.[2]);
  if (!match) return { error: `${JSON.stringify(text)} is neither 'unstructured' nor N:M (e.g. 2:4)` };
  if (n >= 1 && n < m && m >= PATTERN.minM && m <= PATTERN.maxM) return { kind: 'n:m', n, m };
  return { error: `${n}:${m} needs integers 1 <= N < M <= ${PATTERN.maxM}` };
}

/** Fraction of weights an N:M pattern prunes, 1 - N/M (0 for unstructured: the sparsity setting says). */
export function patternSparsity(pattern: SparsityPattern): number {
  return pattern.kind === 'n:m' ? 1 - pattern.n / pattern.m : 0;
}
