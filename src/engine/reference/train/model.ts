/**
 * The training objective on the CPU, in f64 through the project's reference forward (src/engine/reference, which
 * matches transformers): the oracle the GPU gradients are checked against by finite differences.
 *   loss = mean over windows and positions of -log p(target) + auxCoef * mean over layers of aux_l,
 *   aux_l = E * sum_e f_e P_e, f_e = (assignments to e) / T, P_e = mean_t softmax(r_t)_e   (Switch Transformer).
 */
import { normalizeConfig } from '../../model/config.ts';
import type { MoeModelSpec } from '../../model/spec.ts';
import { referenceForward } from '../forward.ts';
import { nllOfRow } from '../ops.ts';
import type { RefLayer, ReferenceWeights } from '../weights.ts';
import { hfConfigJson, type ParamLayout, type TrainModelConfig } from '../../train/config.ts';

export function specOf(config: TrainModelConfig): MoeModelSpec {
  return normalizeConfig('config.json', hfConfigJson(config, 'float32', 0));
}

/** The reference forward's view of flat parameters (subarrays, no copies). */
export function referenceWeightsOf(layout: ParamLayout, values: Float32Array): ReferenceWeights {
  const H = layout.config.hiddenSize;
  const slice = (t: { offset: number; size: number }) => values.subarray(t.offset, t.offset + t.size);
  const linear = (weight: Float32Array) => ({ weight, bias: null });
  const layers: RefLayer[] = layout.layers.map((t) => {
    const qkv = slice(t.qkv);
    return {
      inputNorm: { weight: slice(t.attnNorm), bias: null },
      postAttentionNorm: { weight: slice(t.moeNorm), bias: null },
      q: linear(qkv.subarray(0, H * H)),
      k: linear(qkv.subarray(H * H, 2 * H * H)),
      v: linear(qkv.subarray(2 * H * H)),
      o: linear(slice(t.o)),
      mla: null,
      qNorm: null,
      kNorm: null,
      router: slice(t.router),
      gateUp: slice(t.w13),
      down: slice(t.w2),
      shared: null,
      sharedGate: null,
      correctionBias: null,
      routerBias: null,
      gateUpBias: null,
      downBias: null,
      sinks: null,
      dense: null,
      expertEnabled: null,
      forcedExpert: null,
    };
  });
  return {
    spec: specOf(layout.config),
    embedding: slice(layout.embed),
    finalNorm: { weight: slice(layout.finalNorm), bias: null },
    lmHead: linear(slice(layout.lmHead)),
    layers,
  };
}

export interface ReferenceLoss {
  loss: number;
  crossEntropy: number;
  /** aux_l per layer. */
  aux: number[];
}

/** The objective on B windows of S tokens: ids and targets [B * S]. */
export function referenceLoss(layout: ParamLayout, values: Float32Array, ids: ArrayLike<number>, targets: ArrayLike<number>, auxCoef: number): ReferenceLoss {
  const weights = referenceWeightsOf(layout, values);
  const { contextLength: S, vocabSize: V, numExperts: E, numLayers: L } = layout.config;
  const windows = ids.length / S;
  let nll = 0;
  const counts = Array.from({ length: L }, () => new Float64Array(E));
  const probs = Array.from({ length: L }, () => new Float64Array(E));
  for (let w = 0; w < windows; w++) {
    const window = Array.from({ length: S }, (_, s) => ids[w * S + s]);
    const { logits, moe } = referenceForward(weights, window, { trace: true });
    for (let s = 0; s < S; s++) nll += nllOfRow(logits, s * V, V, targets[w * S + s]);
    moe.forEach((trace, l) => {
      for (let t = 0; t < S; t++) {
        const row = trace!.routerLogits.subarray(t * E, (t + 1) * E);
        const max = Math.max(...row);
        const exps = Array.from(row, (r) => Math.exp(r - max));
        const sum = exps.reduce((a, b) => a + b, 0);
        exps.forEach((x, e) => (probs[l][e] += x / sum));
        for (const e of trace!.routed[t].experts) counts[l][e]++;
      }
    });
  }
  const T = ids.length;
  const aux = counts.map((c, l) => E * c.reduce((acc, n, e) => acc + (n / T) * (probs[l][e] / T), 0));
  const crossEntropy = nll / T;
  return { loss: crossEntropy + (auxCoef * aux.reduce((a, b) => a + b, 0)) / L, crossEntropy, aux };
}
