/**
 * The training backward pass, recorded after recordTrainForward(gradient: true): from dL/dlogits back to every
 * parameter's gradient in `grads` (each written exactly once per step, so nothing needs clearing), layer by layer
 * in reverse. L = mean next-token cross-entropy + auxCoef * mean over layers of the Switch load-balancing loss.
 * Every product is a matmul.wgsl call with the operand views spelled out; shapes in the comments.
 */
import type { Recorder } from '../recorder.ts';
import { renormalizesTopK } from '../../engine/train/config.ts';
import { recordAttentionSoftmaxBackward } from '../kernels/train/attention_softmax.ts';
import type { BackwardScratch, StepShape, TrainBuffers } from './buffers.ts';
import { recordEmbeddingBackward } from '../kernels/train/embedding.ts';
import { attentionView, headView, transposedHeadView, type AttentionBuffers } from './forward.ts';
import { recordMatmul, rowMajor, transposed } from '../kernels/train/matmul.ts';
import { recordGatherRows, recordGateGrad, recordInputGrad } from '../kernels/train/moe_rows.ts';
import { recordRmsNormBackward } from '../kernels/train/rmsnorm.ts';
import { recordRopeBackward } from '../kernels/train/rope.ts';
import { recordRouterBackward } from '../kernels/train/router.ts';
import { recordSwiGluBackward } from '../kernels/train/swiglu.ts';

/**
 * Attention's backward for one layer: from dO = d.dAttn [T, H] to the q, k, v columns of d.dQkv [T, 3H]
 * (q and k still rotated: the caller undoes RoPE). P from the forward; dP in d.dProbs becomes dS in place.
 */
export function recordAttentionBackward(
  rec: Recorder,
  s: StepShape,
  a: Pick<AttentionBuffers, 'qkv' | 'vT' | 'probs'>,
  d: Pick<BackwardScratch, 'dAttn' | 'dProbs' | 'dQkv'>,
): void {
  const { B, S, H, D, heads } = s;
  const batch = { outer: B, inner: heads };
  const scale = 1 / Math.sqrt(D);
  // dP = dO v^T; dv = P^T dO (into the v columns of d qkv).
  recordMatmul(rec, {
    M: S,
    N: S,
    K: D,
    batch,
    causal: 'skip-upper-tiles',
    a: headView(d.dAttn, s, H, 0),
    b: transposedHeadView(a.vT, s),
    c: attentionView(d.dProbs, s),
  });
  recordMatmul(rec, {
    M: S,
    N: D,
    K: S,
    batch,
    causal: 'k-from-m',
    a: { ...attentionView(a.probs, s), row: 1, col: S },
    b: headView(d.dAttn, s, H, 0),
    c: headView(d.dQkv, s, 3 * H, 2 * H),
  });
  recordAttentionSoftmaxBackward(rec, B * heads * S, S, a.probs, d.dProbs); // dP -> dS
  // dq = scale dS k; dk = scale dS^T q.
  recordMatmul(rec, {
    M: S,
    N: D,
    K: S,
    batch,
    causal: 'k-up-to-m',
    alpha: scale,
    a: attentionView(d.dProbs, s),
    b: headView(a.qkv, s, 3 * H, H),
    c: headView(d.dQkv, s, 3 * H, 0),
  });
  recordMatmul(rec, {
    M: S,
    N: D,
    K: S,
    batch,
    causal: 'k-from-m',
    alpha: scale,
    a: { ...attentionView(d.dProbs, s), row: 1, col: S },
    b: headView(a.qkv, s, 3 * H, 0),
    c: headView(d.dQkv, s, 3 * H, H),
  });
}

export function recordTrainBackward(rec: Recorder, b: TrainBuffers, auxCoef: number): void {
  const s = b.shape;
  const { layout } = b;
  const { T, H, E, K, I, V, S, heads, D, L } = s;
  const eps = layout.config.rmsNormEps;
  const renormalize = renormalizesTopK(layout.config);
  const d = b.scratch;
  // LM head: dW [V, H] = dz^T x_final; d x_final [T, H] = dz W.
  recordMatmul(rec, { M: V, N: H, K: T, a: transposed(b.logits, V), b: rowMajor(b.finalNorm, H), c: rowMajor(b.grads, H, layout.lmHead.offset) });
  recordMatmul(rec, { M: T, N: H, K: V, a: rowMajor(b.logits, V), b: rowMajor(b.params, H, layout.lmHead.offset), c: rowMajor(d.dNorm, H) });
  rec.clear(d.dh, 0, T * H * 4);
  recordRmsNormBackward(rec, { rows: T, width: H, eps, weightOffset: layout.finalNorm.offset }, b.output, b.params, b.finalRstd, d.dNorm, d.dh, b.grads);
  for (let l = L - 1; l >= 0; l--) {
    const w = layout.layers[l];
    const a = b.layers[l];
    // --- MoE block: out = mid + sum_k g_k expert_k(norm2(mid)); d.dh holds dL/d out.
    const rows = { tokens: T, width: H, topK: K, experts: E, rows: s.R };
    const maps = { rowSlot: a.rowSlot, slotRow: a.slotRow };
    const grouped = { mode: 'rows' as const, groups: a.table, experts: E };
    const perExpert = { mode: 'reduction' as const, groups: a.table, experts: E };
    recordGateGrad(rec, rows, maps, a.yRows, d.dh, d.dGates, b.unused); // dg [T, K]
    recordGatherRows(rec, rows, maps, d.dh, d.dYRows, a.gates); // dy rows [R, H] = g dh
    // w2 [E, H, I]: d act [R, I] = dy w2_e; d w2_e [H, I] = dy_e^T act_e.
    recordMatmul(rec, {
      M: s.R,
      N: I,
      K: H,
      grouped,
      a: rowMajor(d.dYRows, H),
      b: { ...rowMajor(b.params, I, w.w2.offset), outer: H * I },
      c: rowMajor(d.dAct, I),
    });
    recordMatmul(rec, {
      M: H,
      N: I,
      K: s.R,
      grouped: perExpert,
      a: transposed(d.dYRows, H),
      b: rowMajor(a.act, I),
      c: { ...rowMajor(b.grads, I, w.w2.offset), outer: H * I },
    });
    recordSwiGluBackward(rec, s.R, I, a.gu, d.dAct, d.dGu); // d gu [R, 2I]
    // w13 [E, 2I, H]: d w13_e = d gu_e^T x_e; d x rows [R, H] = d gu w13_e.
    recordMatmul(rec, {
      M: 2 * I,
      N: H,
      K: s.R,
      grouped: perExpert,
      a: transposed(d.dGu, 2 * I),
      b: rowMajor(a.xRows, H),
      c: { ...rowMajor(b.grads, H, w.w13.offset), outer: 2 * I * H },
    });
    recordMatmul(rec, {
      M: s.R,
      N: H,
      K: 2 * I,
      grouped,
      a: rowMajor(d.dGu, 2 * I),
      b: { ...rowMajor(b.params, H, w.w13.offset), outer: 2 * I * H },
      c: rowMajor(d.dXRows, H),
    });
    // Router: dL/dr [T, E] (gates + load balancing); d router [E, H] = dr^T norm2.
    recordRouterBackward(rec, { tokens: T, experts: E, topK: K, renormalize }, auxCoef / L, d.dGates, a.table, a.routerProbs, a.chosen, d.dRouterLogits);
    recordMatmul(rec, { M: E, N: H, K: T, a: transposed(d.dRouterLogits, E), b: rowMajor(a.norm2, H), c: rowMajor(b.grads, H, w.router.offset) });
    recordInputGrad(rec, rows, maps, d.dXRows, d.dRouterLogits, b.params, w.router.offset, d.dNorm); // d norm2 [T, H]
    recordRmsNormBackward(rec, { rows: T, width: H, eps, weightOffset: w.moeNorm.offset }, a.mid, b.params, a.rstd2, d.dNorm, d.dh, b.grads);
    // --- Attention block: mid = input + attn o^T; d.dh now holds dL/d mid.
    recordMatmul(rec, { M: H, N: H, K: T, a: transposed(d.dh, H), b: rowMajor(a.attn, H), c: rowMajor(b.grads, H, w.o.offset) });
    recordMatmul(rec, { M: T, N: H, K: H, a: rowMajor(d.dh, H), b: rowMajor(b.params, H, w.o.offset), c: rowMajor(d.dAttn, H) });
    recordAttentionBackward(rec, s, a, d);
    recordRopeBackward(rec, { tokens: T, window: S, heads, headDim: D }, b.ropeTable, d.dQkv, a.kT, a.vT);
    // qkv [3H, H]: d W = d qkv^T norm1; d norm1 = d qkv W.
    recordMatmul(rec, { M: 3 * H, N: H, K: T, a: transposed(d.dQkv, 3 * H), b: rowMajor(a.norm1, H), c: rowMajor(b.grads, H, w.qkv.offset) });
    recordMatmul(rec, { M: T, N: H, K: 3 * H, a: rowMajor(d.dQkv, 3 * H), b: rowMajor(b.params, H, w.qkv.offset), c: rowMajor(d.dNorm, H) });
    recordRmsNormBackward(rec, { rows: T, width: H, eps, weightOffset: w.attnNorm.offset }, a.input, b.params, a.rstd1, d.dNorm, d.dh, b.grads);
  }
  recordEmbeddingBackward(rec, { tokens: T, hidden: H, vocab: V, embedOffset: layout.embed.offset }, b.embedOrder, b.embedStarts, d.dh, b.grads);
}
