/**
 * FLOPs of one forward pass over B windows of S tokens, counting the matrix products (2 per multiply-add) the
 * engine actually runs: q/k/v/o projections, causal attention (query t attends to t + 1 keys: QK^T and PV),
 * router, the K chosen experts' SwiGLU (gate, up, down), shared expert or dense MLP, LM head. Norms, RoPE,
 * softmax and elementwise work are left out (a few percent at these shapes).
 */
import type { MoeModelSpec } from '../src/engine/model/spec.ts';

export interface ForwardFlops {
  perToken: number;
  total: number;
  parts: Record<'attentionProjections' | 'attentionScores' | 'router' | 'experts' | 'sharedOrDense' | 'lmHead', number>;
}

export function forwardFlops(spec: MoeModelSpec, windows: number, seqLen: number): ForwardFlops {
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hkv, headDim: D, numExperts: E, topK: K, expertFfnSize: I, vocabSize: V } = spec;
  const T = windows * seqLen;
  const moeLayers = spec.moeLayers.filter(Boolean).length;
  const denseLayers = spec.numLayers - moeLayers;
  const parts = {
    attentionProjections: spec.numLayers * T * 2 * (H * (Hq + 2 * Hkv) * D + Hq * D * H),
    // sum over t < S of (t + 1) keys, two products of D per key and head.
    attentionScores: spec.numLayers * windows * ((seqLen * (seqLen + 1)) / 2) * Hq * 2 * 2 * D,
    router: moeLayers * T * 2 * H * E,
    experts: moeLayers * T * K * 2 * 3 * H * I,
    sharedOrDense:
      moeLayers * T * (spec.sharedExpert ? 2 * (3 * H * spec.sharedExpert.ffnSize + (spec.sharedExpert.gated ? H : 0)) : 0) +
      denseLayers * T * 2 * 3 * H * spec.denseFfnSize,
    lmHead: T * 2 * H * V,
  };
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  return { perToken: total / T, total, parts };
}
