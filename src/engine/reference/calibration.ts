/**
 * CPU reference of the calibration statistics (stats.ts), accumulated in f64 from the reference forward's traces:
 * the oracle for the GPU statistics kernels.
 *
 * Modes (docs/calibration.md):
 * - dense: every statistic from the dense model, one pass per window.
 * - sequential (as Wanda and SparseGPT prune): layer l's statistics come from inputs produced by layers < l that
 *   are already pruned. `masksForLayer(l, stats_l)` is called once layer l's statistics are complete and returns
 *   that layer's masks; the next layer's statistics are then gathered through the pruned prefix. (The reference
 *   recomputes the prefix for every layer: O(L^2) but obviously right.)
 */
import { maskReferenceWeights } from './masked-weights.ts';
import { referenceForward, type MoeTrace } from './forward.ts';
import type { Vec } from './ops.ts';
import type { ReferenceWeights } from './weights.ts';
import type { LayerMasks, MaskSet } from '../model/mask-set.ts';
import { attentionOutputWidth, type MoeModelSpec } from '../model/spec.ts';
import { entropyNats, histogramBin, routerProbabilities, topMargin } from '../calibration/router-health.ts';
import { emptyLayerStats, HISTOGRAM_BINS, type CalibrationMode, type CalibrationStats, type ExpertStats, type LayerStats } from '../calibration/stats.ts';

function addSquares(target: Float64Array, rows: Vec, width: number, rowScale: (row: number) => number): void {
  const n = rows.length / width;
  for (let r = 0; r < n; r++) {
    const s = rowScale(r);
    for (let j = 0; j < width; j++) target[j] += (s * rows[r * width + j]) ** 2;
  }
}

interface ExpertAccumulator {
  inputSqNorm: Float64Array;
  inputSqNormGated: Float64Array;
  interSqNorm: Float64Array;
  interSqNormGated: Float64Array;
}

/** f64 accumulators with the same shape as LayerStats. */
export interface LayerAccumulator {
  expertTokens: Float64Array;
  expertGateSum: Float64Array;
  expertOutputNormGatedSum: Float64Array;
  expertOutputNormSum: Float64Array;
  expertOutputAbsMax: Float64Array;
  coactivation: Float64Array;
  experts: ExpertAccumulator[];
  shared: ExpertAccumulator | null;
  attnInputSqNorm: Float64Array;
  attnOInputSqNorm: Float64Array;
  attnQBInputSqNorm: Float64Array | null;
  attnKvBInputSqNorm: Float64Array | null;
  routerEntropyHist: Float64Array;
  routerMarginHist: Float64Array;
}

function toF64(stats: LayerStats): LayerAccumulator {
  const e = (x: ExpertStats): ExpertAccumulator => ({
    inputSqNorm: new Float64Array(x.inputSqNorm.length),
    inputSqNormGated: new Float64Array(x.inputSqNormGated.length),
    interSqNorm: new Float64Array(x.interSqNorm.length),
    interSqNormGated: new Float64Array(x.interSqNormGated.length),
  });
  return {
    expertTokens: new Float64Array(stats.expertTokens.length),
    expertGateSum: new Float64Array(stats.expertGateSum.length),
    expertOutputNormGatedSum: new Float64Array(stats.expertOutputNormGatedSum.length),
    expertOutputNormSum: new Float64Array(stats.expertOutputNormSum.length),
    expertOutputAbsMax: new Float64Array(stats.expertOutputAbsMax.length),
    coactivation: new Float64Array(stats.coactivation.length),
    experts: stats.experts.map(e),
    shared: stats.shared ? e(stats.shared) : null,
    attnInputSqNorm: new Float64Array(stats.attnInputSqNorm.length),
    attnOInputSqNorm: new Float64Array(stats.attnOInputSqNorm.length),
    attnQBInputSqNorm: stats.attnQBInputSqNorm ? new Float64Array(stats.attnQBInputSqNorm.length) : null,
    attnKvBInputSqNorm: stats.attnKvBInputSqNorm ? new Float64Array(stats.attnKvBInputSqNorm.length) : null,
    routerEntropyHist: new Float64Array(HISTOGRAM_BINS),
    routerMarginHist: new Float64Array(HISTOGRAM_BINS),
  };
}

function toF32(spec: MoeModelSpec, acc: LayerAccumulator): LayerStats {
  const out = emptyLayerStats(spec);
  const copy = (target: Float32Array, source: Float64Array) => target.set(source);
  copy(out.expertTokens, acc.expertTokens);
  copy(out.expertGateSum, acc.expertGateSum);
  copy(out.expertOutputNormGatedSum, acc.expertOutputNormGatedSum);
  copy(out.expertOutputNormSum, acc.expertOutputNormSum);
  copy(out.expertOutputAbsMax, acc.expertOutputAbsMax);
  copy(out.coactivation, acc.coactivation);
  const expert = (target: ExpertStats, source: ExpertAccumulator) => {
    copy(target.inputSqNorm, source.inputSqNorm);
    copy(target.inputSqNormGated, source.inputSqNormGated);
    copy(target.interSqNorm, source.interSqNorm);
    copy(target.interSqNormGated, source.interSqNormGated);
  };
  acc.experts.forEach((source, e) => expert(out.experts[e], source));
  if (acc.shared && out.shared) expert(out.shared, acc.shared);
  copy(out.attnInputSqNorm, acc.attnInputSqNorm);
  copy(out.attnOInputSqNorm, acc.attnOInputSqNorm);
  if (out.attnQBInputSqNorm && acc.attnQBInputSqNorm) copy(out.attnQBInputSqNorm, acc.attnQBInputSqNorm);
  if (out.attnKvBInputSqNorm && acc.attnKvBInputSqNorm) copy(out.attnKvBInputSqNorm, acc.attnKvBInputSqNorm);
  copy(out.routerEntropyHist, acc.routerEntropyHist);
  copy(out.routerMarginHist, acc.routerMarginHist);
  return out;
}

/** Adds one window's MoE trace of a layer to its accumulator. */
export function accumulateMoeTrace(spec: MoeModelSpec, acc: LayerAccumulator, trace: MoeTrace, sharedGate: Float32Array | null): void {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const T = trace.routed.length;
  trace.experts.forEach((x, e) => {
    acc.expertTokens[e] += x.tokens.length;
    const stats = acc.experts[e];
    addSquares(stats.inputSqNorm, x.input, H, () => 1);
    addSquares(stats.inputSqNormGated, x.input, H, (r) => x.gates[r]);
    addSquares(stats.interSqNorm, x.inter, I, () => 1);
    addSquares(stats.interSqNormGated, x.inter, I, (r) => x.gates[r]);
    x.gates.forEach((g, r) => {
      acc.expertGateSum[e] += g;
      let norm = 0;
      for (let h = 0; h < H; h++) {
        norm += x.output[r * H + h] ** 2;
        acc.expertOutputAbsMax[e] = Math.max(acc.expertOutputAbsMax[e], Math.abs(x.output[r * H + h]));
      }
      acc.expertOutputNormGatedSum[e] += g * Math.sqrt(norm);
      acc.expertOutputNormSum[e] += Math.sqrt(norm);
    });
  });
  for (let t = 0; t < T; t++) {
    const chosen = trace.routed[t].experts;
    for (const a of chosen) for (const b of chosen) acc.coactivation[a * E + b] += 1;
    const probs = routerProbabilities(trace.routerLogits.subarray(t * E, (t + 1) * E));
    acc.routerEntropyHist[histogramBin(entropyNats(probs), Math.log(E))] += 1;
    acc.routerMarginHist[histogramBin(topMargin(probs), 1)] += 1;
  }
  if (acc.shared && trace.sharedInter) {
    const S = acc.shared.interSqNorm.length;
    const gate = (t: number) => {
      if (!sharedGate) return 1;
      let dot = 0;
      for (let h = 0; h < H; h++) dot += trace.input[t * H + h] * sharedGate[h];
      return 1 / (1 + Math.exp(-dot));
    };
    addSquares(acc.shared.inputSqNorm, trace.input, H, () => 1);
    addSquares(acc.shared.inputSqNormGated, trace.input, H, gate);
    addSquares(acc.shared.interSqNorm, trace.sharedInter, S, () => 1);
    addSquares(acc.shared.interSqNormGated, trace.sharedInter, S, gate);
  }
}

export interface ReferenceCalibrationOptions {
  mode: CalibrationMode;
  /** Sequential mode: the masks of layer l, given its complete statistics. */
  masksForLayer?: (layer: number, stats: LayerStats) => LayerMasks | null;
}

/** Statistics of `windows` (each a list of token ids) through the reference model. */
export function referenceCalibrationStats(
  weights: ReferenceWeights,
  windows: number[][],
  options: ReferenceCalibrationOptions = { mode: 'dense' },
): { stats: CalibrationStats; masks: MaskSet } {
  const { spec } = weights;
  const L = spec.numLayers;
  const accumulators = spec.moeLayers.map((isMoe) => (isMoe ? toF64(emptyLayerStats(spec)) : null));
  const masks: MaskSet = { layers: Array.from({ length: L }, () => null) };
  const collect = (model: ReferenceWeights, onlyLayer: number | null) => {
    for (const ids of windows) {
      referenceForward(model, ids, {
        layers: onlyLayer === null ? undefined : onlyLayer + 1,
        onAttention: (l, { input, context, qBInput, kvBInput }) => {
          const acc = accumulators[l];
          if (!acc || (onlyLayer !== null && l !== onlyLayer)) return;
          addSquares(acc.attnInputSqNorm, input, spec.hiddenSize, () => 1);
          addSquares(acc.attnOInputSqNorm, context, attentionOutputWidth(spec), () => 1);
          if (acc.attnQBInputSqNorm && qBInput) addSquares(acc.attnQBInputSqNorm, qBInput, acc.attnQBInputSqNorm.length, () => 1);
          if (acc.attnKvBInputSqNorm && kvBInput) addSquares(acc.attnKvBInputSqNorm, kvBInput, acc.attnKvBInputSqNorm.length, () => 1);
        },
        onMoeLayer: (l, trace) => {
          const acc = accumulators[l];
          if (!acc || (onlyLayer !== null && l !== onlyLayer)) return;
          accumulateMoeTrace(spec, acc, trace, model.layers[l].sharedGate);
        },
      });
    }
  };
  if (options.mode === 'dense') {
    collect(weights, null);
  } else {
    for (let l = 0; l < L; l++) {
      collect(maskReferenceWeights(weights, masks), l);
      const acc = accumulators[l];
      if (acc && options.masksForLayer) masks.layers[l] = options.masksForLayer(l, toF32(spec, acc));
    }
  }
  const tokens = windows.reduce((n, w) => n + w.length, 0);
  return {
    stats: { tokens, mode: options.mode, metadata: {}, layers: accumulators.map((acc) => (acc ? toF32(spec, acc) : null)) },
    masks,
  };
}
