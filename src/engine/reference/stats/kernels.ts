/**
 * Plain CPU versions (f64) of the GPU statistics kernels (shaders/stats/*.wgsl), in the kernels' own data
 * layouts: the oracle for each kernel's tolerance test. The whole-model oracle is ../calibration.ts; both use the
 * definitions of stats.ts and router-health.ts.
 */
import { entropyNats, histogramBin, routerProbabilities, topMargin } from '../../calibration/router-health.ts';

/** How segmented rows are laid out: row r of segment s (offsets[s] <= r < offsets[s + 1]). */
export interface SegmentedRows {
  rows: ArrayLike<number>; // [*, rowStride]
  width: number; // W
  rowStride?: number;
  columnOffset?: number;
  rowSource?: ArrayLike<number> | null; // [R]: row r reads rows[rowSource[r]]
  offsets: ArrayLike<number>; // [S + 1]
}

function rowBase(x: SegmentedRows, r: number): number {
  const source = x.rowSource ? x.rowSource[r] : r;
  return source * (x.rowStride ?? x.width) + (x.columnOffset ?? 0);
}

/** column_sqnorm.wgsl: per segment s and column j, sum of x^2 and of (g x)^2 over the segment's rows. */
export function segmentColumnSqNorms(x: SegmentedRows, rowGate: ArrayLike<number> | null): { plain: Float64Array; gated: Float64Array } {
  const S = x.offsets.length - 1;
  const W = x.width;
  const plain = new Float64Array(S * W);
  const gated = new Float64Array(S * W);
  for (let s = 0; s < S; s++) {
    for (let r = x.offsets[s]; r < x.offsets[s + 1]; r++) {
      const base = rowBase(x, r);
      const g = rowGate ? rowGate[r] : 1;
      for (let j = 0; j < W; j++) {
        const v = x.rows[base + j];
        plain[s * W + j] += v * v;
        gated[s * W + j] += (g * v) ** 2;
      }
    }
  }
  return { plain, gated };
}

/** routing_counts.wgsl: tokens per expert, their gate sums, and co-activation [E, E] from ids/gates [T, K]. */
export function routingCounts(expertIds: ArrayLike<number>, gates: ArrayLike<number>, K: number, E: number) {
  const T = expertIds.length / K;
  const expertTokens = new Float64Array(E);
  const expertGateSum = new Float64Array(E);
  const coactivation = new Float64Array(E * E);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < K; k++) {
      const a = expertIds[t * K + k];
      expertTokens[a] += 1;
      expertGateSum[a] += gates[t * K + k];
      for (let k2 = 0; k2 < K; k2++) coactivation[a * E + expertIds[t * K + k2]] += 1;
    }
  }
  return { expertTokens, expertGateSum, coactivation };
}

/**
 * router_health.wgsl: per-token entropy (nats) and top-1/top-2 margin of softmax(logits [T, E]) over the enabled
 * experts (enabled[e] = 0: a dropped expert, as a -inf logit), with histograms.
 */
export function routerHealthOfLogits(logits: ArrayLike<number>, E: number, bins: number, enabled: ArrayLike<number> | null = null) {
  const T = logits.length / E;
  const entropy = new Float64Array(T);
  const margin = new Float64Array(T);
  const entropyHist = new Float64Array(bins);
  const marginHist = new Float64Array(bins);
  const row = new Float64Array(E);
  for (let t = 0; t < T; t++) {
    for (let e = 0; e < E; e++) row[e] = enabled && !enabled[e] ? -Infinity : logits[t * E + e];
    const p = routerProbabilities(row);
    entropy[t] = entropyNats(p);
    margin[t] = topMargin(p);
    entropyHist[histogramBin(entropy[t], Math.log(E), bins)] += 1;
    marginHist[histogramBin(margin[t], 1, bins)] += 1;
  }
  return { entropy, margin, entropyHist, marginHist };
}

/** row_norm.wgsl + segment_sum.wgsl: per segment, sum of weight[r] * ||row r||_2. */
export function segmentWeightedRowNorms(x: SegmentedRows, weight: ArrayLike<number>): Float64Array {
  const S = x.offsets.length - 1;
  const totals = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    for (let r = x.offsets[s]; r < x.offsets[s + 1]; r++) {
      const base = rowBase(x, r);
      let sq = 0;
      for (let j = 0; j < x.width; j++) sq += x.rows[base + j] ** 2;
      totals[s] += weight[r] * Math.sqrt(sq);
    }
  }
  return totals;
}

/** segment_absmax.wgsl: per segment, max |x| over its rows and columns (0 for an empty segment). */
export function segmentAbsMax(x: SegmentedRows): Float64Array {
  const S = x.offsets.length - 1;
  const out = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    for (let r = x.offsets[s]; r < x.offsets[s + 1]; r++) {
      const base = rowBase(x, r);
      for (let j = 0; j < x.width; j++) out[s] = Math.max(out[s], Math.abs(x.rows[base + j]));
    }
  }
  return out;
}
