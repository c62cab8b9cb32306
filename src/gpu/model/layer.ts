/**
 * One decoder layer recorded into a Recorder, on the residual stream in `ws.hidden` (updated in place):
 *   h' = h + m * attn(norm1(h));   h'' = h' + m * ffn(norm2(h'))      (m = residual_multiplier, Granite; else 1)
 * attn: q/k/v projections (+bias), q/k norm (per head: Qwen3-MoE; full width: OLMoE), clip_qkv (OLMoE, after the
 * norm as transformers does), RoPE, causal GQA, o projection. ffn: the MoE block (router, routing rule, expert
 * dispatch, grouped SwiGLU experts, shared expert, combine) or a dense SwiGLU MLP. DeepSeek's multi-head latent
 * attention replaces the q/k/v projections (recordMlaContext).
 * `recordLayer` is the unit sequential calibration runs layer by layer; the full forward is a loop over it.
 */
import { recordAttention } from '../kernels/nn/attention.ts';
import { recordCombine } from '../kernels/moe/combine.ts';
import { recordDispatchCount } from '../kernels/moe/dispatch_count.ts';
import { recordDispatchFill } from '../kernels/moe/dispatch_fill.ts';
import { recordDispatchPlan } from '../kernels/moe/dispatch_plan.ts';
import { recordExpertDown } from '../kernels/moe/expert_down.ts';
import { recordExpertGateUp, type RowPlan } from '../kernels/moe/expert_gate_up.ts';
import { recordMatmul, type WeightOperand } from '../kernels/nn/matmul.ts';
import { recordNorm } from '../kernels/nn/norm.ts';
import { recordResidualAdd } from '../kernels/nn/residual_add.ts';
import { recordRope } from '../kernels/nn/rope.ts';
import { recordHeadCopy } from '../kernels/nn/head_copy.ts';
import { attentionOutputWidth, MLA_NORM_EPS } from '../../engine/model/spec.ts';
import { recordRoute } from '../kernels/moe/route.ts';
import type { Recorder } from '../recorder.ts';
import type { GpuFfn, GpuModel, GpuNorm } from './gpu-model.ts';
import type { GpuLayerMasks } from './gpu-mask-set.ts';
import type { MoeLayerHook } from './taps.ts';
import type { GpuMatrix } from './tensor-upload.ts';
import type { Workspace } from './workspace.ts';

export interface LayerOptions {
  masks?: GpuLayerMasks | null;
  onMoeLayer?: MoeLayerHook;
}

/** `replacement`: weights of the same dtype and layout to read instead of the model's (GpuLayerMasks.weights). */
function withMask(matrix: GpuMatrix, mask: GPUBuffer | undefined, replacement?: GPUBuffer): WeightOperand {
  return { buffer: replacement ?? matrix.buffer, dtype: matrix.dtype, mask: mask ?? null };
}

/** norm(x) -> y over rows of H with the model's norm kind. */
export function recordModelNorm(rec: Recorder, model: GpuModel, norm: GpuNorm, x: GPUBuffer, y: GPUBuffer, rows: number): void {
  const { kind, eps } = model.spec.norm;
  recordNorm(rec, { x, y, weight: norm.weight, bias: norm.bias, kind, rows, width: model.spec.hiddenSize, eps });
}

/**
 * Multi-head latent attention (MoeModelSpec.mla) on ws.normed -> ws.mla.context [T, Hq * dv], composed of
 * matmuls, RMS norms, rope and head copies: q [T, Hq, D] from q_proj or q_b(norm(q_a(x))); [latent, kr] =
 * kv_a(x) with kr rotated in place; kv = kv_b(norm(latent)) [T, Hq, dn + dv]; k = [k_nope, kr for every head],
 * v = kv's v part zero-padded to D, so the ordinary attention kernel runs with D = dn + dr; then each head's first
 * dv outputs.
 */
function recordMlaContext(rec: Recorder, model: GpuModel, ws: Workspace, l: number, m: GpuLayerMasks['matrices']): void {
  const { spec } = model;
  const layer = model.layers[l];
  const w = layer.mla!;
  const b = ws.mla!;
  const { hiddenSize: H, numHeads: Hq, headDim: D } = spec;
  const { qLoraRank: rq, kvLoraRank: r, qkNopeDim: dn, qkRopeDim: dr, vDim: dv } = spec.mla!;
  const T = ws.tokens;
  if (w.qA && rq) {
    recordMatmul(rec, { x: ws.normed, weight: withMask(w.qA.weight, m['attn.q_a']), bias: w.qA.bias, y: b.qA!, rows: T, cols: rq, inner: H });
    recordNorm(rec, { x: b.qA!, y: b.qANormed!, weight: w.qANorm!, kind: 'rms', rows: T, width: rq, eps: MLA_NORM_EPS });
    recordMatmul(rec, { x: b.qANormed!, weight: withMask(w.qB!, m['attn.q_b']), y: ws.q, rows: T, cols: Hq * D, inner: rq });
  } else {
    recordMatmul(rec, { x: ws.normed, weight: withMask(layer.q!.weight, m['attn.q']), bias: layer.q!.bias, y: ws.q, rows: T, cols: Hq * D, inner: H });
  }
  recordMatmul(rec, { x: ws.normed, weight: withMask(w.kvA.weight, m['attn.kv_a']), bias: w.kvA.bias, y: b.kvA, rows: T, cols: r + dr, inner: H });
  const rope = { cosSin: ws.ropeTable, tokens: T, seqLen: ws.seqLen, rotaryDim: dr, pairs: spec.rope.pairs };
  recordRope(rec, { ...rope, x: ws.q, heads: Hq, headDim: D, offset: dn });
  recordRope(rec, { ...rope, x: b.kvA, heads: 1, headDim: r + dr, offset: r });
  const copy = (src: GPUBuffer, dst: GPUBuffer, heads: number, width: number, from: [number, number, number], to: [number, number, number]) =>
    recordHeadCopy(rec, src, dst, {
      tokens: T,
      heads,
      width,
      inTokenStride: from[0],
      inHeadStride: from[1],
      inOffset: from[2],
      outTokenStride: to[0],
      outHeadStride: to[1],
      outOffset: to[2],
    });
  copy(b.kvA, b.latent, 1, r, [r + dr, 0, 0], [r, 0, 0]);
  recordNorm(rec, { x: b.latent, y: b.latentNormed, weight: w.kvANorm, kind: 'rms', rows: T, width: r, eps: MLA_NORM_EPS });
  recordMatmul(rec, { x: b.latentNormed, weight: withMask(w.kvB, m['attn.kv_b']), y: b.kv, rows: T, cols: Hq * (dn + dv), inner: r });
  copy(b.kv, ws.k, Hq, dn, [Hq * (dn + dv), dn + dv, 0], [Hq * D, D, 0]);
  copy(b.kvA, ws.k, Hq, dr, [r + dr, 0, r], [Hq * D, D, dn]);
  copy(b.kv, ws.v, Hq, dv, [Hq * (dn + dv), dn + dv, dn], [Hq * D, D, 0]);
  recordAttention(rec, {
    q: ws.q,
    k: ws.k,
    v: ws.v,
    out: ws.context,
    windows: ws.windows,
    seqLen: ws.seqLen,
    heads: Hq,
    kvHeads: Hq,
    headDim: D,
    scale: spec.attentionScale,
  });
  copy(ws.context, b.context, Hq, dv, [Hq * D, D, 0], [Hq * dv, dv, 0]);
}

/** ws.hidden -> ws.hiddenMid = hidden + m * attn(inputNorm(hidden)). */
function recordAttentionBlock(rec: Recorder, model: GpuModel, ws: Workspace, l: number, masks: GpuLayerMasks | null): void {
  const { spec } = model;
  const layer = model.layers[l];
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hkv, headDim: D } = spec;
  const T = ws.tokens;
  const m = masks?.matrices ?? {};
  recordModelNorm(rec, model, layer.inputNorm, ws.hidden, ws.normed, T);
  if (spec.mla) {
    recordMlaContext(rec, model, ws, l, m);
    const inner = attentionOutputWidth(spec);
    recordMatmul(rec, { x: ws.mla!.context, weight: withMask(layer.o.weight, m['attn.o']), bias: layer.o.bias, y: ws.branch, rows: T, cols: H, inner });
    recordResidualAdd(rec, ws.hidden, ws.branch, ws.hiddenMid, T * H, spec.residualMultiplier);
    return;
  }
  const [q, k, v] = [layer.q!, layer.k!, layer.v!];
  // clip_qkv applies after the q/k norm when there is one, else straight after the projection.
  const clipProj = spec.qkNorm === 'none' ? spec.clipQkv : null;
  const project = (weight: WeightOperand, bias: GPUBuffer | null, y: GPUBuffer, width: number, clip: number | null) =>
    recordMatmul(rec, { x: ws.normed, weight, bias, y, rows: T, cols: width, inner: H, clip });
  project(withMask(q.weight, m['attn.q']), q.bias, ws.qProj, Hq * D, clipProj);
  project(withMask(k.weight, m['attn.k']), k.bias, ws.kProj, Hkv * D, clipProj);
  project(withMask(v.weight, m['attn.v']), v.bias, ws.v, Hkv * D, spec.clipQkv);
  if (spec.qkNorm !== 'none') {
    const perHead = spec.qkNorm === 'per-head';
    const qk: [GPUBuffer, GPUBuffer, GPUBuffer, number][] = [
      [ws.qProj, ws.q, layer.qNorm!, Hq],
      [ws.kProj, ws.k, layer.kNorm!, Hkv],
    ];
    for (const [x, y, weight, heads] of qk) {
      const [rows, width] = perHead ? [T * heads, D] : [T, heads * D];
      recordNorm(rec, { x, y, weight, kind: 'rms', rows, width, eps: spec.norm.eps, clip: spec.clipQkv });
    }
  }
  for (const [x, heads] of [
    [ws.q, Hq],
    [ws.k, Hkv],
  ] as const) {
    recordRope(rec, { x, cosSin: ws.ropeTable, tokens: T, heads, headDim: D, seqLen: ws.seqLen, rotaryDim: spec.rope.rotaryDim, pairs: spec.rope.pairs });
  }
  recordAttention(rec, {
    q: ws.q,
    k: ws.k,
    v: ws.v,
    out: ws.context,
    windows: ws.windows,
    seqLen: ws.seqLen,
    heads: Hq,
    kvHeads: Hkv,
    headDim: D,
    scale: spec.attentionScale,
    sliding: spec.attentionWindows[l],
    sinks: layer.sinks,
  });
  recordMatmul(rec, { x: ws.context, weight: withMask(layer.o.weight, m['attn.o']), bias: layer.o.bias, y: ws.branch, rows: T, cols: H, inner: Hq * D });
  recordResidualAdd(rec, ws.hidden, ws.branch, ws.hiddenMid, T * H, spec.residualMultiplier);
}

/** A dense SwiGLU FFN on all T rows of x: out [T, H] (inter [T, W] as scratch). */
function recordDenseFfn(
  rec: Recorder,
  model: GpuModel,
  ffn: GpuFfn,
  x: GPUBuffer,
  inter: GPUBuffer,
  out: GPUBuffer,
  T: number,
  gateUpMask?: GPUBuffer,
  downMask?: GPUBuffer,
  weights: Partial<Record<'gateUp' | 'down', GPUBuffer>> = {},
): void {
  const plan: RowPlan = { kind: 'dense', rows: T };
  const H = model.spec.hiddenSize;
  recordExpertGateUp(rec, { x, gateUp: withMask(ffn.gateUp, gateUpMask, weights.gateUp), inter, plan, hidden: H, interSize: ffn.width });
  recordExpertDown(rec, { inter, down: withMask(ffn.down, downMask, weights.down), expertOut: out, plan, hidden: H, interSize: ffn.width });
}

/** MoE block on ws.normed [T, H] -> ws.branch [T, H]; the tap point is at its end. */
function recordMoeBlock(rec: Recorder, model: GpuModel, ws: Workspace, l: number, masks: GpuLayerMasks | null, onMoeLayer?: MoeLayerHook): void {
  const { spec } = model;
  const layer = model.layers[l];
  const { hiddenSize: H, numExperts: E, topK: K, expertFfnSize: I } = spec;
  const T = ws.tokens;
  const m = masks?.matrices ?? {};
  const w = masks?.weights ?? {};
  recordMatmul(rec, { x: ws.normed, weight: withMask(layer.router!, undefined), bias: layer.routerBias, y: ws.routerLogits, rows: T, cols: E, inner: H });
  recordRoute(rec, {
    logits: ws.routerLogits,
    enabled: masks?.expertEnabled ?? model.allExpertsEnabled,
    expertIds: ws.expertIds,
    gates: ws.gates,
    tokens: T,
    experts: E,
    topK: K,
    rule: spec.routing,
    bias: layer.correctionBias,
    forcedExpert: masks?.forcedExpert,
  });
  const dispatch = { expertIds: ws.expertIds, tokenBits: ws.tokenBits, rowOfSlot: ws.rowOfSlot, tokens: T, topK: K, experts: E };
  recordDispatchCount(rec, { ...dispatch, counts: ws.expertCounts });
  recordDispatchPlan(rec, ws.expertCounts, ws.expertOffsets, ws.tiles, E);
  recordDispatchFill(rec, { ...dispatch, offsets: ws.expertOffsets, sortedRows: ws.sortedRows });
  const plan: RowPlan = { kind: 'gathered', sortedRows: ws.sortedRows, tiles: ws.tiles, offsets: ws.expertOffsets, maxTiles: ws.maxTiles, topK: K };
  const experts = layer.experts!;
  recordExpertGateUp(rec, {
    x: ws.normed,
    gateUp: withMask(experts.gateUp, m['experts.gate_up'], w['experts.gate_up']),
    inter: ws.inter,
    plan,
    hidden: H,
    interSize: I,
    bias: layer.expertBias?.gateUp,
    activation: spec.expertActivation,
  });
  recordExpertDown(rec, {
    inter: ws.inter,
    down: withMask(experts.down, m['experts.down'], w['experts.down']),
    expertOut: ws.expertOut,
    plan,
    hidden: H,
    interSize: I,
    bias: layer.expertBias?.down,
  });
  let shared: { out: GPUBuffer; gateLogit: GPUBuffer | null } | null = null;
  if (layer.shared) {
    recordDenseFfn(rec, model, layer.shared, ws.normed, ws.sharedInter!, ws.sharedOut!, T, m['shared.gate_up'], m['shared.down'], {
      gateUp: w['shared.gate_up'],
      down: w['shared.down'],
    });
    if (layer.sharedGate) {
      recordMatmul(rec, { x: ws.normed, weight: withMask(layer.sharedGate, undefined), y: ws.sharedGateLogit!, rows: T, cols: 1, inner: H });
    }
    shared = { out: ws.sharedOut!, gateLogit: layer.sharedGate ? ws.sharedGateLogit : null };
  }
  recordCombine(rec, { expertOut: ws.expertOut, gates: ws.gates, rowOfSlot: ws.rowOfSlot, out: ws.branch, tokens: T, hidden: H, topK: K, shared });
  onMoeLayer?.({
    layer: l,
    recorder: rec,
    tokens: T,
    hidden: H,
    experts: E,
    topK: K,
    expertFfn: I,
    maxTiles: ws.maxTiles,
    input: ws.normed,
    routerLogits: ws.routerLogits,
    expertIds: ws.expertIds,
    gates: ws.gates,
    expertCounts: ws.expertCounts,
    expertOffsets: ws.expertOffsets,
    sortedRows: ws.sortedRows,
    rowOfSlot: ws.rowOfSlot,
    tiles: ws.tiles,
    inter: ws.inter,
    expertOutput: ws.expertOut,
    sharedInter: layer.shared ? ws.sharedInter : null,
    sharedGateLogit: layer.sharedGate ? ws.sharedGateLogit : null,
    output: ws.branch,
  });
}

/**
 * Layer `l` on ws.hidden [T, H], in place. After it returns (recorded, not yet run), ws.normed holds the FFN
 * input and ws.branch the FFN output of this layer until the next layer is recorded (the debug taps copy them).
 */
export function recordLayer(rec: Recorder, model: GpuModel, ws: Workspace, l: number, options: LayerOptions = {}): void {
  const { spec } = model;
  const layer = model.layers[l];
  const T = ws.tokens;
  const masks = options.masks ?? null;
  recordAttentionBlock(rec, model, ws, l, masks);
  recordModelNorm(rec, model, layer.postAttentionNorm, ws.hiddenMid, ws.normed, T);
  if (layer.experts) recordMoeBlock(rec, model, ws, l, masks, options.onMoeLayer);
  else recordDenseFfn(rec, model, layer.dense!, ws.normed, ws.inter, ws.branch, T);
  recordResidualAdd(rec, ws.hiddenMid, ws.branch, ws.hidden, T * spec.hiddenSize, spec.residualMultiplier);
}
