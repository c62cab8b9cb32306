/**
 * Expert criteria side by side, calibration coverage and super experts, from one layer's calibration statistics
 * (stats.ts). T = calibration tokens; sums run over the tokens routed to expert e; "output" is the expert's output
 * (its down projection's output, before g weights it).
 *
 * Criteria (larger = more worth keeping), each ranked per layer (rank 1 = largest, ties to the lower index, as
 * expert dropping breaks them) with Spearman's rank correlation between every pair:
 * - frequency: tokens routed to e; gate: mean gate sum g / T; reap: REAP, sum g ||output|| / tokens (Lasby et al.
 *   2025) — exactly the expert-dropping criteria (src/engine/prune/expert-drop.ts);
 * - ean: sum ||output|| over routed tokens, the expert activation norm (EAN, Jaiswal et al. 2025);
 * - meanNorm: sum ||output|| / tokens, the mean routed activation norm (how loud e is when it speaks).
 *
 * Coverage: an expert that received fewer than MIN_EXPERT_TOKENS calibration tokens has statistics from too few
 * samples to rank its weights (Wanda's and MoE-Pruner's column norms, SparseGPT's Hessian) — with none at all they
 * are all zero, which other pruning tools turned into NaN scales. Such experts are flagged, never silently pruned by
 * noise.
 *
 * Super experts (Su et al. 2025, "Unveiling Super Experts in Mixture-of-Experts Large Language Models"): the few
 * experts whose down projection emits rare, extreme activations that become the residual stream's massive
 * activations; removing them collapses the model. Flagged here when an expert's largest |output| exceeds
 * SUPER_EXPERT_FACTOR times the median of its layer's experts' largest |output|.
 */
import { EXPERT_CRITERIA, type ExpertCriterion } from '../experiment/schema.ts';
import { expertCriterionValues } from '../prune/expert-drop.ts';
import type { LayerStats } from './stats.ts';

/**
 * Tokens below which an expert's calibration statistics are unreliable: its column norms average fewer samples
 * than a sensible estimate of a squared-norm per input column needs (and at 0 they are all zero).
 */
export const MIN_EXPERT_TOKENS = 32;

/**
 * A super expert's largest |down-projection output| is at least this many times the median of its layer's. Su et
 * al. 2025 report outliers orders of magnitude above the rest; the factor itself is this lab's choice.
 */
export const SUPER_EXPERT_FACTOR = 10;

/** The expert-dropping criteria (the settings vocabulary's), then EAN and the mean output norm. */
export const CRITERIA = [...EXPERT_CRITERIA, 'ean', 'meanNorm'] as const;
export type CriterionName = (typeof CRITERIA)[number];

export const CRITERION_LABELS: Record<CriterionName, string> = {
  frequency: 'Frequency',
  gate: 'Mean gate',
  reap: 'REAP',
  ean: 'EAN (summed output norm)',
  meanNorm: 'Mean output norm',
};

export interface LayerCriteria {
  /** [criterion][E] values. */
  values: Record<CriterionName, number[]>;
  /** [criterion][E] rank of each expert, 1 = the largest value. */
  ranks: Record<CriterionName, number[]>;
  /** [C][C] Spearman rank correlation between criteria, in CRITERIA order (NaN where a criterion is constant). */
  spearman: number[][];
}

/** Every criterion of one layer, its ranks and their rank correlations. */
export function layerCriteria(stats: LayerStats, tokens: number): LayerCriteria {
  const E = stats.expertTokens.length;
  const routed = (e: number) => stats.expertTokens[e];
  const values = {
    ...(Object.fromEntries(EXPERT_CRITERIA.map((c) => [c, Array.from(expertCriterionValues(stats, c, tokens))])) as Record<ExpertCriterion, number[]>),
    ean: Array.from(stats.expertOutputNormSum),
    meanNorm: Array.from({ length: E }, (_, e) => (routed(e) > 0 ? stats.expertOutputNormSum[e] / routed(e) : 0)),
  };
  const ranks = Object.fromEntries(CRITERIA.map((c) => [c, descendingRanks(values[c])])) as Record<CriterionName, number[]>;
  const spearman = CRITERIA.map((a) => CRITERIA.map((b) => spearmanCorrelation(values[a], values[b])));
  return { values, ranks, spearman };
}

/** Rank of each value, 1 = largest, ties to the lower index (the order expert dropping uses, reversed). */
export function descendingRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[b] - values[a] || a - b);
  const ranks = new Array<number>(values.length);
  order.forEach((i, r) => (ranks[i] = r + 1));
  return ranks;
}

/** Average ranks (ties share the mean of their positions), the ranks Spearman's rho is defined on. */
function averageRanks(values: readonly number[]): number[] {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  const ranks = new Array<number>(values.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && values[order[j + 1]] === values[order[i]]) j++;
    for (let k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return ranks;
}

/** Spearman's rho: Pearson's correlation of the average ranks; NaN when either side is constant. */
export function spearmanCorrelation(a: readonly number[], b: readonly number[]): number {
  const ra = averageRanks(a);
  const rb = averageRanks(b);
  const n = ra.length;
  const mean = (n + 1) / 2;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    cov += (ra[i] - mean) * (rb[i] - mean);
    va += (ra[i] - mean) ** 2;
    vb += (rb[i] - mean) ** 2;
  }
  return va > 0 && vb > 0 ? cov / Math.sqrt(va * vb) : NaN;
}

/** Experts that received fewer than MIN_EXPERT_TOKENS calibration tokens. */
export function lowCoverageExperts(stats: LayerStats): number[] {
  return Array.from(stats.expertTokens).flatMap((n, e) => (n < MIN_EXPERT_TOKENS ? [e] : []));
}

/** Median of finite values (NaN when there are none). */
function median(values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Experts whose largest |output| exceeds SUPER_EXPERT_FACTOR x the layer's median (none when unknown). */
export function superExperts(stats: LayerStats): number[] {
  const maxima = Array.from(stats.expertOutputAbsMax);
  const threshold = SUPER_EXPERT_FACTOR * median(maxima);
  if (!(threshold > 0)) return [];
  return maxima.flatMap((m, e) => (m > threshold ? [e] : []));
}
