/**
 * The training forward pass, recorded into one batch: the same function as transformers' MixtralForCausalLM
 * (embedding, per layer h += o_proj(attn(rmsnorm(h))); h += moe(rmsnorm(h)), final norm, LM head) on B windows of
 * S tokens, keeping every activation the backward needs (buffers.ts), ending in the cross-entropy that leaves
 * dL/dlogits in place when a gradient is wanted.
 */
import type { Recorder } from '../recorder.ts';
import { renormalizesTopK } from '../../engine/train/config.ts';
import { recordAttentionSoftmax } from '../kernels/train/attention_softmax.ts';
import type { StepShape, TrainBuffers } from './buffers.ts';
import { recordCrossEntropy } from '../kernels/train/cross_entropy.ts';
import { recordEmbeddingForward } from '../kernels/train/embedding.ts';
import { recordMatmul, rowMajor, type MatrixView } from '../kernels/train/matmul.ts';
import { recordMoeDispatch } from '../kernels/train/moe_dispatch.ts';
import { recordCombineRows, recordGatherRows } from '../kernels/train/moe_rows.ts';
import { recordRmsNormForward } from '../kernels/train/rmsnorm.ts';
import { recordRopeForward } from '../kernels/train/rope.ts';
import { recordRouterForward, recordRouterStats } from '../kernels/train/router.ts';
import { recordSwiGluForward } from '../kernels/train/swiglu.ts';

/** Head h of window w of a [T, width] buffer at column `column` (q: 0, k: H, v: 2H of qkv). */
export function headView(buffer: GPUBuffer, s: StepShape, width: number, column: number): MatrixView {
  return { buffer, offset: column, row: width, col: 1, outer: s.S * width, inner: s.D };
}

/** [B, heads, S, S] attention matrices, row-major per (window, head). */
export function attentionView(buffer: GPUBuffer, s: StepShape): MatrixView {
  return { buffer, row: s.S, col: 1, outer: s.heads * s.S * s.S, inner: s.S * s.S };
}

/** [B, heads, D, S] k^T / v^T: element (d, s) of head (w, h). */
export function transposedHeadView(buffer: GPUBuffer, s: StepShape): MatrixView {
  return { buffer, row: s.S, col: 1, outer: s.heads * s.D * s.S, inner: s.D * s.S };
}

/** The attention buffers of one layer: rotated qkv [T, 3H] with k^T, v^T [B, heads, D, S] -> P, attention out. */
export interface AttentionBuffers {
  qkv: GPUBuffer;
  kT: GPUBuffer;
  vT: GPUBuffer;
  probs: GPUBuffer;
  attn: GPUBuffer;
}

/** Causal softmax(q k^T / sqrt(D)) v per (window, head): P kept in `probs`, the heads' outputs in `attn` [T, H]. */
export function recordAttentionForward(rec: Recorder, s: StepShape, a: AttentionBuffers, unused: GPUBuffer): void {
  const { B, S, H, D, heads } = s;
  const batch = { outer: B, inner: heads };
  recordMatmul(rec, {
    M: S,
    N: S,
    K: D,
    batch,
    causal: 'skip-upper-tiles',
    alpha: 1 / Math.sqrt(D),
    a: headView(a.qkv, s, 3 * H, 0),
    b: transposedHeadView(a.kT, s),
    c: attentionView(a.probs, s),
  });
  recordAttentionSoftmax(rec, B * heads * S, S, a.probs, unused);
  recordMatmul(rec, {
    M: S,
    N: D,
    K: S,
    batch,
    causal: 'k-up-to-m',
    a: attentionView(a.probs, s),
    b: headView(a.qkv, s, 3 * H, 2 * H),
    c: headView(a.attn, s, H, 0),
  });
}

export interface ForwardOptions {
  /** Leave dL/dlogits in `logits` (training) or only the losses (evaluation). */
  gradient: boolean;
  /** Slot of `sums` for the batch's mean loss. */
  lossSlot: number;
}

export function recordTrainForward(rec: Recorder, b: TrainBuffers, o: ForwardOptions): void {
  const s = b.shape;
  const { layout } = b;
  const { T, H, E, K, I, V, S, heads, D } = s;
  const eps = layout.config.rmsNormEps;
  const renormalize = renormalizesTopK(layout.config);
  recordEmbeddingForward(rec, { tokens: T, hidden: H, vocab: V, embedOffset: layout.embed.offset }, b.ids, b.params, b.layers[0].input);
  layout.layers.forEach((w, l) => {
    const a = b.layers[l];
    // Attention block.
    recordRmsNormForward(rec, { rows: T, width: H, eps, weightOffset: w.attnNorm.offset }, a.input, b.params, a.rstd1, a.norm1);
    recordMatmul(rec, { M: T, N: 3 * H, K: H, a: rowMajor(a.norm1, H), b: rowMajor(b.paramsT, 3 * H, w.qkv.offset), c: rowMajor(a.qkv, 3 * H) });
    recordRopeForward(rec, { tokens: T, window: S, heads, headDim: D }, b.ropeTable, a.qkv, a.kT, a.vT);
    recordAttentionForward(rec, s, a, b.unused);
    rec.copy(a.input, 0, a.mid, 0, T * H * 4);
    recordMatmul(rec, { M: T, N: H, K: H, a: rowMajor(a.attn, H), b: rowMajor(b.paramsT, H, w.o.offset), c: rowMajor(a.mid, H), accumulate: true });
    // Mixture-of-experts block.
    recordRmsNormForward(rec, { rows: T, width: H, eps, weightOffset: w.moeNorm.offset }, a.mid, b.params, a.rstd2, a.norm2);
    recordMatmul(rec, { M: T, N: E, K: H, a: rowMajor(a.norm2, H), b: rowMajor(b.paramsT, E, w.router.offset), c: rowMajor(a.routerLogits, E) });
    recordRouterForward(rec, { tokens: T, experts: E, topK: K, renormalize }, a.routerLogits, b.unused, a.routerProbs, a.chosen, a.gates);
    recordMoeDispatch(rec, { tokens: T, topK: K, experts: E }, a.chosen, a.table, a.rowSlot, a.slotRow);
    const rows = { tokens: T, width: H, topK: K, experts: E, rows: s.R };
    const maps = { rowSlot: a.rowSlot, slotRow: a.slotRow };
    recordGatherRows(rec, rows, maps, a.norm2, a.xRows, null);
    const grouped = { mode: 'rows' as const, groups: a.table, experts: E };
    recordMatmul(rec, {
      M: s.R,
      N: 2 * I,
      K: H,
      grouped,
      a: rowMajor(a.xRows, H),
      b: { ...rowMajor(b.paramsT, 2 * I, w.w13.offset), outer: 2 * I * H },
      c: rowMajor(a.gu, 2 * I),
    });
    recordSwiGluForward(rec, s.R, I, a.gu, a.act, b.unused);
    recordMatmul(rec, {
      M: s.R,
      N: H,
      K: I,
      grouped,
      a: rowMajor(a.act, I),
      b: { ...rowMajor(b.paramsT, H, w.w2.offset), outer: H * I },
      c: rowMajor(a.yRows, H),
    });
    recordCombineRows(rec, rows, maps, a.gates, a.yRows, a.mid, b.layerOutput(l));
    recordRouterStats(rec, { tokens: T, experts: E, topK: K, renormalize }, a.table, a.routerProbs, a.chosen, b.routerStats, l * 2 * E, b.unused);
  });
  recordRmsNormForward(rec, { rows: T, width: H, eps, weightOffset: layout.finalNorm.offset }, b.output, b.params, b.finalRstd, b.finalNorm);
  recordMatmul(rec, { M: T, N: V, K: H, a: rowMajor(b.finalNorm, H), b: rowMajor(b.paramsT, V, layout.lmHead.offset), c: rowMajor(b.logits, V) });
  recordCrossEntropy(rec, { tokens: T, vocab: V, scale: 1 / T, gradient: o.gradient, slot: o.lossSlot }, b.logits, b.targets, b.tokenLoss, b.sums);
}
