/**
 * The experiment: everything a share link carries to reproduce what one person saw (docs/ui.md, "Share links"). The
 * pipeline is deterministic, so the same model (checked by its content hash), calibration text, sample count,
 * length, seed and pruning settings give the same masks and numbers.
 *
 * Schema version 1. Its defaults and value sets are frozen: a v1 link must mean the same thing forever. A
 * change of meaning needs version 2 and a reader for v1 (src/engine/experiment/url.ts).
 */

import { parseModelLocation, type ModelLocation } from '../io/hub-location.ts';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DAMP, MAX_BLOCK_SIZE } from '../sparsegpt/settings.ts';

export const EXPERIMENT_VERSION = 1;

export const MODEL_SOURCE_KINDS = ['embedded', 'hub', 'files'] as const;
export const CALIBRATION_MODES = ['dense', 'sequential'] as const;
export const PRUNE_METHODS = ['magnitude', 'wanda', 'moe-pruner', 'random', 'sparsegpt'] as const;
export const PRUNE_GROUPS = ['row', 'matrix', 'layer'] as const;
export const ALLOCATIONS = ['uniform', 'owl'] as const;
export const EXPERT_CRITERIA = ['frequency', 'gate', 'reap'] as const;
export const PRUNE_TARGETS = ['experts', 'attention', 'shared'] as const;
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
export type CalibrationMode = (typeof CALIBRATION_MODES)[number];
export type PruneMethod = (typeof PRUNE_METHODS)[number];
export type PruneGroup = (typeof PRUNE_GROUPS)[number];
export type Allocation = (typeof ALLOCATIONS)[number];
export type ExpertCriterion = (typeof EXPERT_CRITERIA)[number];
export type PruneTarget = (typeof PRUNE_TARGETS)[number];
export type Panel = (typeof PANELS)[number];
export type HideableControl = (typeof HIDEABLE_CONTROLS)[number];

/** Keep the N largest of every M consecutive input columns (N < M <= 16), or no pattern. */
export type SparsityPattern = { kind: 'unstructured' } | { kind: 'n:m'; n: number; m: number };

export interface ExperimentModel {
  source: ModelSourceKind;
  /** Embedded model id, remote id (canonicalRemoteId: `org/name[@rev]` or an https URL), or the dropped folder's name (informative only). */
  id: string;
  /** First SHORT_HASH_LENGTH hex characters of the content hash (model-hash.ts); null until a model is loaded. */
  hash: string | null;
}

/** Calibration text: one of the page's texts by id, or text the user pasted, known by its hash only. */
export type CalibrationText = { kind: 'corpus'; id: string } | { kind: 'pasted'; hash: string };

export interface ExperimentCalibration {
  text: CalibrationText;
  samples: number;
  seqLen: number;
  seed: number;
  mode: CalibrationMode;
}

export interface ExperimentPrune {
  method: PruneMethod;
  /** Fraction of weights pruned in each comparison group, 0-0.95. */
  sparsity: number;
  pattern: SparsityPattern;
  group: PruneGroup;
  /** How sparsity is spread over layers: the same everywhere, or OWL's outlier-weighted allocation. */
  allocation: Allocation;
  /** Experts dropped per MoE layer (0: none). */
  expertsDrop: number;
  expertCriterion: ExpertCriterion;
  /** Which weights are pruned: a non-empty subset, kept in PRUNE_TARGETS order. */
  targets: PruneTarget[];
  /**
   * SparseGPT's block width B and dampening (fraction of the mean Hessian diagonal); used by method sparsegpt only.
   * Added to v1 after its first release: links without `blocksize` / `damp` mean the defaults below.
   */
  sparseGpt: { blockSize: number; damp: number };
}

/** How perplexity is measured: which text, window length, tokens read (split over genres when per genre). */
export interface ExperimentEvaluation {
  text: CalibrationText;
  ctx: number;
  maxTokens: number;
}

export interface ExperimentView {
  panel: Panel;
  layer: number;
}

export interface Experiment {
  model: ExperimentModel;
  calibration: ExperimentCalibration;
  prune: ExperimentPrune;
  /** Added to v1 after its first release: links without these keys mean the defaults below. */
  evaluation: ExperimentEvaluation;
  view: ExperimentView;
  /** Controls hidden from the page (classroom mode), kept in HIDEABLE_CONTROLS order. */
  hide: HideableControl[];
  /** Start the guided tour. */
  tour: boolean;
}

/** Ranges every value is validated and clamped against. */
export const LIMITS = {
  sparsity: { min: 0, max: 0.95 },
  samples: { min: 1, max: 4096 },
  seqLen: { min: 8, max: 32768 },
  seed: { min: 0, max: 2 ** 32 - 1 },
  expertsDrop: { min: 0, max: 1024 },
  layer: { min: 0, max: 1023 },
  ctx: { min: 8, max: 32768 },
  evalTokens: { min: 16, max: 4_194_304 },
  patternM: { min: 2, max: 16 },
  blockSize: { min: 1, max: MAX_BLOCK_SIZE },
  damp: { min: 0, max: 1 },
} as const;

export const DEFAULT_CALIBRATION_TEXT = 'brown';
export const DEFAULT_EMBEDDED_MODEL = 'test-tiny-mixtral';

/** The v1 defaults (frozen: see the file comment). */
export function defaultExperiment(): Experiment {
  return {
    model: { source: 'embedded', id: DEFAULT_EMBEDDED_MODEL, hash: null },
    calibration: { text: { kind: 'corpus', id: DEFAULT_CALIBRATION_TEXT }, samples: 64, seqLen: 128, seed: 0, mode: 'dense' },
    prune: {
      method: 'moe-pruner',
      sparsity: 0.5,
      pattern: { kind: 'unstructured' },
      group: 'row',
      allocation: 'uniform',
      expertsDrop: 0,
      expertCriterion: 'frequency',
      targets: ['experts'],
      sparseGpt: { blockSize: DEFAULT_BLOCK_SIZE, damp: DEFAULT_DAMP },
    },
    evaluation: { text: { kind: 'corpus', id: DEFAULT_CALIBRATION_TEXT }, ctx: 128, maxTokens: 4096 },
    view: { panel: 'model', layer: 0 },
    hide: [],
    tour: false,
  };
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

export function formatPattern(pattern: SparsityPattern): string {
  return pattern.kind === 'unstructured' ? 'unstructured' : `${pattern.n}:${pattern.m}`;
}
