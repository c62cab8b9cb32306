/**
 * Router health for the inspector, from a layer's statistics: how evenly the router spreads tokens over experts
 * and how decided it is per token.
 * - load fraction of expert e: expert_tokens[e] / (T * K) — the share of routed assignments it receives;
 * - coefficient of variation of the load (std / mean) and max / mean (1 for a perfectly balanced router);
 * - router entropy per token: H(p) of the softmax over all E router logits, in nats, histogrammed over [0, ln E];
 * - top-1/top-2 margin per token: p(1) - p(2) of those probabilities, histogrammed over [0, 1].
 * Both histograms use HISTOGRAM_BINS equal bins; a value on the top edge goes to the last bin.
 */
import { HISTOGRAM_BINS, type LayerStats } from './stats.ts';

export interface LoadSummary {
  loadFraction: number[]; // [E]
  coefficientOfVariation: number;
  maxOverMean: number;
  /** Experts with less than `deadThreshold` of the assignments (default 2%, as the default-model card checks). */
  lowLoadExperts: number[];
}

export function loadSummary(stats: LayerStats, deadThreshold = 0.02): LoadSummary {
  const counts = Array.from(stats.expertTokens);
  const assignments = counts.reduce((a, b) => a + b, 0);
  const E = counts.length;
  const loadFraction = counts.map((c) => (assignments > 0 ? c / assignments : 0));
  const mean = 1 / E;
  const variance = loadFraction.reduce((acc, f) => acc + (f - mean) ** 2, 0) / E;
  return {
    loadFraction,
    coefficientOfVariation: Math.sqrt(variance) / mean,
    maxOverMean: Math.max(...loadFraction) / mean,
    lowLoadExperts: loadFraction.flatMap((f, e) => (f < deadThreshold ? [e] : [])),
  };
}

/** Softmax probabilities of one token's router logits (-inf for dropped experts). */
export function routerProbabilities(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let e = 0; e < logits.length; e++) max = Math.max(max, logits[e]);
  const exps = Array.from(logits, (v) => (v === -Infinity ? 0 : Math.exp(v - max)));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((x) => x / sum);
}

export function entropyNats(probs: number[]): number {
  return probs.reduce((acc, p) => (p > 0 ? acc - p * Math.log(p) : acc), 0);
}

export function topMargin(probs: number[]): number {
  let first = 0;
  let second = 0;
  for (const p of probs) {
    if (p > first) {
      second = first;
      first = p;
    } else if (p > second) second = p;
  }
  return first - second;
}

export function histogramBin(value: number, max: number, bins = HISTOGRAM_BINS): number {
  if (!(value > 0)) return 0;
  return Math.min(bins - 1, Math.floor((value / max) * bins));
}

/** Mean of a histogram's values, taking each bin's centre (for a one-number summary in tables). */
export function histogramMean(hist: ArrayLike<number>, max: number): number {
  let total = 0;
  let weighted = 0;
  for (let b = 0; b < hist.length; b++) {
    total += hist[b];
    weighted += hist[b] * ((b + 0.5) / hist.length) * max;
  }
  return total > 0 ? weighted / total : 0;
}
