/**
 * Records the calibration statistics of one MoE layer into the forward's own command buffer, reading the buffers
 * the forward already filled (no extra matmuls): the MoE tap (src/gpu/model/taps.ts) gives the MoE input,
 * routing, gathered order, intermediate and expert outputs; around `recordLayer` the workspace gives the layer's
 * input (ws.hidden, before the layer runs) and its attention context (ws.context, after it ran).
 *
 * What each statistic reads (stats.ts names; g = the tap's gates):
 *   expert_tokens, expert_gate_sum, coactivation       expertIds, gates [T, K]            routing_counts
 *   router_entropy_hist, router_margin_hist            routerLogits [T, E] + enabled [E]  router_health
 *   experts.{e}.input_sqnorm(_gated)                   input [T, H] via sortedRows        column_sqnorm
 *   experts.{e}.inter_sqnorm(_gated)                   inter [rows, I]                     column_sqnorm
 *   expert_output_norm_gated_sum, expert_output_norm_sum  expertOutput [rows, H]           row_norm, segment_sum
 *   expert_output_absmax                               expertOutput [rows, H]              segment_absmax
 *   shared.input_sqnorm(_gated), shared.inter_...      input [T, H], sharedInter [T, S], sigmoid(sharedGateLogit)
 *   attn.input_sqnorm                                  inputNorm(ws.hidden), recomputed into scratch
 *   attn.o_input_sqnorm                                ws.context [T, Hq*D] (MLA: ws.mla.context [T, Hq*dv])
 *   attn.q_b_input_sqnorm, attn.kv_b_input_sqnorm      MLA: ws.mla.qANormed [T, rq], ws.mla.latentNormed [T, r]
 */
import { attentionOutputWidth, type MoeModelSpec } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import { recordColumnSqNorm } from '../kernels/stats/column_sqnorm.ts';
import { recordRouterHealth } from '../kernels/stats/router_health.ts';
import { recordRoutingCounts } from '../kernels/stats/routing_counts.ts';
import { recordRowNorm } from '../kernels/stats/row_norm.ts';
import { recordSegmentAbsMax } from '../kernels/stats/segment_absmax.ts';
import { recordSegmentSum } from '../kernels/stats/segment_sum.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { recordModelNorm } from '../model/layer.ts';
import type { MoeLayerTap } from '../model/taps.ts';
import type { Workspace } from '../model/workspace.ts';
import type { Recorder } from '../recorder.ts';
import { HISTOGRAM_BINS } from '../../engine/calibration/stats.ts';
import type { LayerTotals } from './totals.ts';

/** Scratch buffers of one forward shape (T tokens), shared by every layer. */
export class StatsScratch {
  readonly allTokens: GPUBuffer; // [2] u32: the one segment [0, T)
  readonly attnInput: GPUBuffer; // [T, H] the attention's input, recomputed
  readonly rowNorms: GPUBuffer; // [T * K] ||expert output row||
  readonly tokenEntropy: GPUBuffer; // [T]
  readonly tokenMargin: GPUBuffer; // [T]

  constructor(
    ctx: GpuContext,
    spec: MoeModelSpec,
    readonly tokens: number,
  ) {
    const T = tokens;
    this.allTokens = ctx.createBuffer('stats all-token segment', 8);
    ctx.write(this.allTokens, Uint32Array.of(0, T));
    this.attnInput = ctx.createBuffer('stats attention input', T * spec.hiddenSize * 4);
    this.rowNorms = ctx.createBuffer('stats expert output norms', T * spec.topK * 4);
    this.tokenEntropy = ctx.createBuffer('stats token entropy', T * 4);
    this.tokenMargin = ctx.createBuffer('stats token margin', T * 4);
  }

  destroy(): void {
    for (const b of [this.allTokens, this.attnInput, this.rowNorms, this.tokenEntropy, this.tokenMargin]) b.destroy();
  }
}

/** Before layer l is recorded: attn.input_sqnorm from inputNorm(ws.hidden), the input of q/k/v. */
export function recordAttentionInputStats(rec: Recorder, model: GpuModel, ws: Workspace, l: number, totals: LayerTotals, scratch: StatsScratch): void {
  const T = ws.tokens;
  recordModelNorm(rec, model, model.layers[l].inputNorm, ws.hidden, scratch.attnInput, T);
  recordColumnSqNorm(rec, {
    rows: scratch.attnInput,
    width: model.spec.hiddenSize,
    offsets: scratch.allTokens,
    segments: 1,
    totals: totals.buffer,
    plainAt: totals.at('attnInput'),
    label: `stats layers.${l}.attn.input`,
  });
}

/**
 * After layer l is recorded: attn.o_input_sqnorm from ws.context, the o projection's input; under MLA also the inputs
 * of q_b_proj and kv_b_proj the layer left in ws.mla (each projection is scored with its own input).
 */
export function recordAttentionContextStats(rec: Recorder, model: GpuModel, ws: Workspace, l: number, totals: LayerTotals, scratch: StatsScratch): void {
  const columns = (rows: GPUBuffer | null | undefined, width: number, section: 'attnOInput' | 'attnQBInput' | 'attnKvBInput', name: string) => {
    if (!rows || !width) return;
    recordColumnSqNorm(rec, {
      rows,
      width,
      offsets: scratch.allTokens,
      segments: 1,
      totals: totals.buffer,
      plainAt: totals.at(section),
      label: `stats layers.${l}.attn.${name}`,
    });
  };
  const mla = model.spec.mla;
  if (mla) {
    columns(ws.mla?.qANormed, mla.qLoraRank ?? 0, 'attnQBInput', 'q_b_input');
    columns(ws.mla?.latentNormed, mla.kvLoraRank, 'attnKvBInput', 'kv_b_input');
  }
  columns(ws.mla?.context ?? ws.context, attentionOutputWidth(model.spec), 'attnOInput', 'o_input');
}

/** At the MoE tap: every MoE statistic of the layer. `enabled` [E] is the expert-enabled vector the forward routed with. */
export function recordMoeStats(tap: MoeLayerTap, enabled: GPUBuffer, totals: LayerTotals, scratch: StatsScratch): void {
  const rec = tap.recorder;
  const { tokens: T, hidden: H, experts: E, topK: K, expertFfn: I, layer: l } = tap;
  recordRoutingCounts(rec, {
    expertIds: tap.expertIds,
    gates: tap.gates,
    tokens: T,
    topK: K,
    experts: E,
    expertTokens: totals.binding('expertTokens'),
    expertGateSum: totals.binding('expertGateSum'),
    coactivation: totals.binding('coactivation'),
  });
  recordRouterHealth(rec, {
    routerLogits: tap.routerLogits,
    enabled,
    tokens: T,
    experts: E,
    tokenEntropy: scratch.tokenEntropy,
    tokenMargin: scratch.tokenMargin,
    histograms: totals.binding('routerHistograms'),
    bins: HISTOGRAM_BINS,
  });
  const gathered = { rowSlot: tap.sortedRows, gates: tap.gates, offsets: tap.expertOffsets, segments: E, totals: totals.buffer };
  const inputAt = totals.at('expertInput');
  recordColumnSqNorm(rec, {
    ...gathered,
    rows: tap.input,
    width: H,
    fromTokens: true,
    topK: K,
    plainAt: inputAt,
    gatedAt: inputAt + E * H,
    label: `stats layers.${l}.experts.input`,
  });
  const interAt = totals.at('expertInter');
  recordColumnSqNorm(rec, { ...gathered, rows: tap.inter, width: I, plainAt: interAt, gatedAt: interAt + E * I, label: `stats layers.${l}.experts.inter` });
  // REAP: ||expert output|| per gathered row, then sum of g * norm per expert. Rows beyond the routed ones (the
  // buffer holds T * K) get norms nobody reads: segment_sum stops at offsets[E].
  recordRowNorm(rec, { values: tap.expertOutput, rows: T * K, width: H, norms: scratch.rowNorms });
  recordSegmentSum(rec, {
    value: scratch.rowNorms,
    rowSlot: tap.sortedRows,
    gates: tap.gates,
    offsets: tap.expertOffsets,
    segments: E,
    totals: totals.binding('expertOutputNormGatedSum'),
  });
  // EAN: the same norms summed without g.
  recordSegmentSum(rec, {
    value: scratch.rowNorms,
    rowSlot: tap.sortedRows,
    gates: tap.gates,
    offsets: tap.expertOffsets,
    segments: E,
    totals: totals.binding('expertOutputNormSum'),
    gated: false,
  });
  // Super experts (Su et al. 2025): the largest |output| each expert produced.
  recordSegmentAbsMax(rec, { values: tap.expertOutput, width: H, offsets: tap.expertOffsets, segments: E, totals: totals.binding('expertOutputAbsMax') });
  if (tap.sharedInter) {
    const S = totals.layout.sections.sharedInter.length / 2;
    const gate = tap.sharedGateLogit ? { gates: tap.sharedGateLogit, gateSigmoid: true } : {};
    const all = { offsets: scratch.allTokens, segments: 1, totals: totals.buffer, ...gate };
    // Ungated shared experts (g = 1) get their gated totals from the plain ones at readback (totals.ts).
    const sharedInputAt = totals.at('sharedInput');
    const sharedInterAt = totals.at('sharedInter');
    recordColumnSqNorm(rec, { ...all, rows: tap.input, width: H, plainAt: sharedInputAt, gatedAt: tap.sharedGateLogit ? sharedInputAt + H : undefined });
    recordColumnSqNorm(rec, { ...all, rows: tap.sharedInter, width: S, plainAt: sharedInterAt, gatedAt: tap.sharedGateLogit ? sharedInterAt + S : undefined });
  }
}
