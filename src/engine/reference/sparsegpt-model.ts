/**
 * SparseGPT over a whole model on the CPU, in f64 on the reference forward's traces: the oracle for the GPU run
 * (src/gpu/sparsegpt/run.ts). Per MoE layer and expert the raw sums S_in = sum x x^T over its routed inputs and
 * S_inter = sum a a^T over its intermediate (the shared expert over all tokens), then sparseGptReference on every
 * gate, up and down matrix with scaledHessian(S, n). Modes as calibration:
 * - dense: all sums from the dense model;
 * - sequential: layer l's sums through layers < l already pruned and updated (the prefix is recomputed for every
 *   layer: O(L^2), obviously right).
 * Returns the updated weights (f32, pruned entries 0), the masks, and the sums (for reconstruction errors).
 */
import type { CalibrationMode } from '../experiment/schema.ts';
import type { MaskSet } from '../model/mask-set.ts';
import { maskWordCount } from '../model/mask-set.ts';
import { referenceForward, type MoeTrace } from './forward.ts';
import type { Vec } from './ops.ts';
import type { RefLayer, ReferenceWeights } from './weights.ts';
import { scaledHessian, sparseGptReference } from './sparsegpt/matrix.ts';
import { checkSparseGptSettings, referenceOptions, type SparseGptSettings } from '../sparsegpt/settings.ts';

/** Raw sums of one layer (f64): per expert [C, C], tokens per expert; the shared expert's, when it has one. */
export interface LayerSums {
  input: Float64Array[]; // [E] of [H, H]
  inter: Float64Array[]; // [E] of [I, I]
  tokens: number[]; // [E]
  sharedInput: Float64Array | null; // [H, H]
  sharedInter: Float64Array | null; // [S, S]
  sharedTokens: number;
}

export interface ReferenceSparseGpt {
  weights: ReferenceWeights;
  masks: MaskSet;
  sums: (LayerSums | null)[]; // [L]
  /** Sum of the OBS loss estimates over all pruned matrices. */
  loss: number;
}

function addOuter(target: Float64Array, rows: Vec, width: number): void {
  const n = rows.length / width;
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < width; i++) {
      const xi = rows[r * width + i];
      if (xi === 0) continue;
      for (let j = 0; j < width; j++) target[i * width + j] += xi * rows[r * width + j];
    }
  }
}

function emptySums(layer: RefLayer, E: number, H: number, I: number): LayerSums {
  const S = layer.shared?.width ?? 0;
  return {
    input: Array.from({ length: E }, () => new Float64Array(H * H)),
    inter: Array.from({ length: E }, () => new Float64Array(I * I)),
    tokens: new Array<number>(E).fill(0),
    sharedInput: layer.shared ? new Float64Array(H * H) : null,
    sharedInter: layer.shared ? new Float64Array(S * S) : null,
    sharedTokens: 0,
  };
}

function accumulate(sums: LayerSums, trace: MoeTrace, H: number, I: number, S: number): void {
  trace.experts.forEach((x, e) => {
    sums.tokens[e] += x.tokens.length;
    addOuter(sums.input[e], x.input, H);
    addOuter(sums.inter[e], x.inter, I);
  });
  if (sums.sharedInput && sums.sharedInter && trace.sharedInter) {
    sums.sharedTokens += trace.routed.length;
    addOuter(sums.sharedInput, trace.input, H);
    addOuter(sums.sharedInter, trace.sharedInter, S);
  }
}

/** Prunes `count` consecutive matrices [R, C] of `values` (from element `offset`), matrix z with Hessian of z. */
function pruneStack(
  values: Float32Array,
  mask: Uint32Array,
  offset: number,
  R: number,
  C: number,
  hessianOf: (z: number) => Float64Array,
  count: number,
  settings: SparseGptSettings,
): number {
  let loss = 0;
  for (let z = 0; z < count; z++) {
    const base = offset + z * R * C;
    const result = sparseGptReference(values.subarray(base, base + R * C), R, C, hessianOf(z), referenceOptions(settings));
    loss += result.loss;
    for (let i = 0; i < R * C; i++) {
      values[base + i] = result.weights[i];
      if (!result.keep[i]) mask[(base + i) >>> 5] &= ~(1 << ((base + i) & 31));
    }
  }
  return loss;
}

function fullMask(elements: number): Uint32Array {
  const mask = new Uint32Array(maskWordCount(elements)).fill(0xffffffff);
  if (elements % 32) mask[mask.length - 1] = (2 ** (elements % 32) - 1) >>> 0;
  return mask;
}

/** Layer l pruned from its sums: new layer weights, its masks, the loss. */
function pruneLayer(layer: RefLayer, sums: LayerSums, E: number, H: number, I: number, settings: SparseGptSettings) {
  const gateUp = Float32Array.from(layer.gateUp!);
  const down = Float32Array.from(layer.down!);
  const gateUpMask = fullMask(gateUp.length);
  const downMask = fullMask(down.length);
  const inputH = sums.input.map((s, e) => scaledHessian(s, H, sums.tokens[e]));
  const interH = sums.inter.map((s, e) => scaledHessian(s, I, sums.tokens[e]));
  let loss = pruneStack(gateUp, gateUpMask, 0, I, H, (z) => inputH[z >> 1], 2 * E, settings);
  loss += pruneStack(down, downMask, 0, H, I, (z) => interH[z], E, settings);
  const matrices: MaskSet['layers'][number] = { matrices: { 'experts.gate_up': gateUpMask, 'experts.down': downMask } };
  let shared = layer.shared;
  if (shared && sums.sharedInput && sums.sharedInter) {
    const S = shared.width;
    const sGateUp = Float32Array.from(shared.gateUp);
    const sDown = Float32Array.from(shared.down);
    const sGateUpMask = fullMask(sGateUp.length);
    const sDownMask = fullMask(sDown.length);
    const hIn = scaledHessian(sums.sharedInput, H, sums.sharedTokens);
    const hInter = scaledHessian(sums.sharedInter, S, sums.sharedTokens);
    loss += pruneStack(sGateUp, sGateUpMask, 0, S, H, () => hIn, 2, settings);
    loss += pruneStack(sDown, sDownMask, 0, H, S, () => hInter, 1, settings);
    matrices.matrices['shared.gate_up'] = sGateUpMask;
    matrices.matrices['shared.down'] = sDownMask;
    shared = { width: S, gateUp: sGateUp, down: sDown };
  }
  return { layer: { ...layer, gateUp, down, shared }, masks: matrices, loss };
}

/** SparseGPT on every MoE layer of `weights` with calibration `windows` (token ids). */
export function sparseGptModelReference(
  weights: ReferenceWeights,
  windows: number[][],
  settings: SparseGptSettings,
  mode: CalibrationMode,
): ReferenceSparseGpt {
  checkSparseGptSettings(settings);
  const { spec } = weights;
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = spec;
  const sums: (LayerSums | null)[] = weights.layers.map((layer, l) => (spec.moeLayers[l] ? emptySums(layer, E, H, I) : null));
  const collect = (model: ReferenceWeights, onlyLayer: number | null) => {
    for (const ids of windows) {
      referenceForward(model, ids, {
        layers: onlyLayer === null ? undefined : onlyLayer + 1,
        onMoeLayer: (l, trace) => {
          if (onlyLayer !== null && l !== onlyLayer) return;
          accumulate(sums[l]!, trace, H, I, model.layers[l].shared?.width ?? 0);
        },
      });
    }
  };
  const masks: MaskSet = { layers: weights.layers.map(() => null) };
  const layers = [...weights.layers];
  let loss = 0;
  if (mode === 'dense') collect(weights, null);
  for (let l = 0; l < layers.length; l++) {
    if (!sums[l]) continue;
    if (mode === 'sequential') collect({ ...weights, layers }, l);
    const pruned = pruneLayer(layers[l], sums[l]!, E, H, I, settings);
    layers[l] = pruned.layer;
    masks.layers[l] = pruned.masks;
    loss += pruned.loss;
  }
  return { weights: { ...weights, layers }, masks, sums, loss };
}
