/**
 * Which weights a pipeline run scores in one layer, located in the engine's canonical matrices
 * (src/engine/model/mask-set.ts): experts.gate_up [E, 2I, H] (expert e's I gate rows from element 2e*I*H, then its I
 * up rows), experts.down [E, H, I] (expert e from e*H*I), attn.q [Hq*D, H], attn.k / attn.v [Hkv*D, H],
 * attn.o [H, Hq*D], shared.gate_up [2S, H] (gate rows, then up rows), shared.down [H, S]; multi-head latent
 * attention (MlaSpec) instead of q/k/v: attn.q_a [rq, H] and attn.q_b [Hq*D, rq] (or attn.q [Hq*D, H] when
 * q_lora_rank is null), attn.kv_a [r + dr, H], attn.kv_b [Hq*(dn + dv), r], and attn.o [H, Hq*dv].
 *
 * Each piece names the calibration statistic its input columns are scored with (docs/architecture.md): the expert's
 * input for gate/up, its intermediate act(gate(x)) * up(x) for down; MoE-Pruner takes the router-weighted (gated)
 * version. Attention has no router weight, so MoE-Pruner scores it like Wanda; each attention projection is scored
 * with its own input (Wanda's |W_ij| * ||X_j||, Sun et al. 2023): q/k/v, q_a and kv_a with the normed layer input,
 * q_b with q_a's output after q_a_layernorm, kv_b with the latent after kv_a_layernorm, o with the attention
 * context. The shared expert's "gate" is its
 * sigmoid gate (1 when ungated). Pieces are listed in the tie order of a 'layer' group (matrices.ts): routed experts
 * in canonical order, then attention, then the shared expert, each kind its own layer group.
 * Only MoE layers are pruned: non-MoE layers have no calibration statistics and stay dense.
 */
import type { ExpertStats, LayerStats } from '../calibration/stats.ts';
import type { MatrixKey } from '../model/mask-set.ts';
import { attentionOutputWidth, type MoeModelSpec } from '../model/spec.ts';
import type { PruneMatrixShape } from './plan.ts';
import type { PruneTarget } from './pipeline-settings.ts';

export type PieceProjection = 'gate' | 'up' | 'down' | 'q' | 'k' | 'v' | 'o' | 'q_a' | 'q_b' | 'kv_a' | 'kv_b';

type AttentionProjection = 'q' | 'k' | 'v' | 'o' | 'q_a' | 'q_b' | 'kv_a' | 'kv_b';

/** One attention projection of a layer: its shape, the statistic of its input columns (stats.ts) and its random-stream slot. */
interface AttentionShape {
  projection: AttentionProjection;
  rows: number;
  cols: number;
  /** 'attn.{statistic}' in the statistics file. */
  statistic: 'input_sqnorm' | 'o_input_sqnorm' | 'q_b_input_sqnorm' | 'kv_b_input_sqnorm';
  /** Offset of its random stream after the routed experts' 3E slots (the shared expert holds 4..6). */
  slot: number;
}

/** The attention projections of a layer of `spec` in canonical (and tie) order. */
function attentionShapes(spec: MoeModelSpec): AttentionShape[] {
  const { hiddenSize: H, numHeads: Hq, numKvHeads: Hkv, headDim: D } = spec;
  const o: AttentionShape = { projection: 'o', rows: H, cols: attentionOutputWidth(spec), statistic: 'o_input_sqnorm', slot: 3 };
  if (!spec.mla) {
    return [
      { projection: 'q', rows: Hq * D, cols: H, statistic: 'input_sqnorm', slot: 0 },
      { projection: 'k', rows: Hkv * D, cols: H, statistic: 'input_sqnorm', slot: 1 },
      { projection: 'v', rows: Hkv * D, cols: H, statistic: 'input_sqnorm', slot: 2 },
      o,
    ];
  }
  const { qLoraRank: rq, kvLoraRank: r, qkNopeDim: dn, qkRopeDim: dr, vDim: dv } = spec.mla;
  const q: AttentionShape[] =
    rq === null
      ? [{ projection: 'q', rows: Hq * D, cols: H, statistic: 'input_sqnorm', slot: 0 }]
      : [
          { projection: 'q_a', rows: rq, cols: H, statistic: 'input_sqnorm', slot: 7 },
          { projection: 'q_b', rows: Hq * D, cols: rq, statistic: 'q_b_input_sqnorm', slot: 8 },
        ];
  return [
    ...q,
    { projection: 'kv_a', rows: r + dr, cols: H, statistic: 'input_sqnorm', slot: 9 },
    { projection: 'kv_b', rows: Hq * (dn + dv), cols: r, statistic: 'kv_b_input_sqnorm', slot: 10 },
    o,
  ];
}

export interface PrunePiece extends PruneMatrixShape {
  /** 'layers.3.experts.5.gate', 'layers.3.attn.q', 'layers.3.shared.down'. */
  label: string;
  layer: number;
  key: MatrixKey;
  /** Routed expert index, 'shared', or null for attention. */
  expert: number | 'shared' | null;
  projection: PieceProjection;
  /** First element inside the canonical matrix `key` (and first bit in its mask). */
  elementOffset: number;
  /** Name of the column statistic in the statistics file (without '_gated'), e.g. 'layers.3.experts.5.input_sqnorm'. */
  statisticName: string;
}

/** Kinds of layer group within a layer: routed experts, attention and the shared expert compete apart. */
const LAYER_GROUP = { experts: 0, attention: 1, shared: 2 } as const;

/**
 * Random-method stream id of a piece: fixed by (layer, slot) whatever else is pruned, so a matrix draws the same
 * keys whether or not experts were dropped or other targets added. Slots: 3e + {gate 0, up 1, down 2} for routed
 * experts, then attention q/k/v/o, then the shared gate/up/down, then MLA's q_a/q_b/kv_a/kv_b.
 */
function streamOf(layer: number, slot: number): number {
  return layer * 65536 + slot;
}

/** The pieces of MoE layer `layer` for `targets`, routed experts in `dropped` left out (they are removed whole). */
export function layerPieces(spec: MoeModelSpec, layer: number, targets: readonly PruneTarget[], dropped: ReadonlySet<number> = new Set()): PrunePiece[] {
  if (!spec.moeLayers[layer]) return [];
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
  const pieces: PrunePiece[] = [];
  if (targets.includes('experts')) {
    for (let e = 0; e < E; e++) {
      if (dropped.has(e)) continue;
      for (const [p, projection] of (['gate', 'up'] as const).entries()) {
        pieces.push({
          label: `layers.${layer}.experts.${e}.${projection}`,
          layer,
          key: 'experts.gate_up',
          expert: e,
          projection,
          rows: I,
          cols: H,
          elementOffset: (2 * e + p) * I * H,
          layerGroup: LAYER_GROUP.experts,
          randomStream: streamOf(layer, 3 * e + p),
          statisticName: `layers.${layer}.experts.${e}.input_sqnorm`,
        });
      }
    }
    for (let e = 0; e < E; e++) {
      if (dropped.has(e)) continue;
      pieces.push({
        label: `layers.${layer}.experts.${e}.down`,
        layer,
        key: 'experts.down',
        expert: e,
        projection: 'down',
        rows: H,
        cols: I,
        elementOffset: e * H * I,
        layerGroup: LAYER_GROUP.experts,
        randomStream: streamOf(layer, 3 * e + 2),
        statisticName: `layers.${layer}.experts.${e}.inter_sqnorm`,
      });
    }
  }
  if (targets.includes('attention')) {
    for (const { projection, rows, cols, statistic, slot } of attentionShapes(spec)) {
      pieces.push({
        label: `layers.${layer}.attn.${projection}`,
        layer,
        key: `attn.${projection}`,
        expert: null,
        projection,
        rows,
        cols,
        elementOffset: 0,
        layerGroup: LAYER_GROUP.attention,
        randomStream: streamOf(layer, 3 * E + slot),
        statisticName: `layers.${layer}.attn.${statistic}`,
      });
    }
  }
  if (targets.includes('shared') && spec.sharedExpert) {
    const S = spec.sharedExpert.ffnSize;
    const shared = (projection: 'gate' | 'up' | 'down', key: MatrixKey, rows: number, cols: number, elementOffset: number, i: number): PrunePiece => ({
      label: `layers.${layer}.shared.${projection}`,
      layer,
      key,
      expert: 'shared',
      projection,
      rows,
      cols,
      elementOffset,
      layerGroup: LAYER_GROUP.shared,
      randomStream: streamOf(layer, 3 * E + 4 + i),
      statisticName: `layers.${layer}.shared.${projection === 'down' ? 'inter_sqnorm' : 'input_sqnorm'}`,
    });
    pieces.push(shared('gate', 'shared.gate_up', S, H, 0, 0), shared('up', 'shared.gate_up', S, H, S * H, 1), shared('down', 'shared.down', H, S, 0, 2));
  }
  return pieces;
}

/** The pieces of the experts in `dropped`, for the report: they count as wholly pruned. */
export function droppedExpertPieces(spec: MoeModelSpec, layer: number, dropped: readonly number[]): PrunePiece[] {
  const kept = new Set(Array.from({ length: spec.numExperts }, (_, e) => e).filter((e) => !dropped.includes(e)));
  return layerPieces(spec, layer, ['experts'], kept);
}

const expertColumns = (x: ExpertStats, projection: PieceProjection, gated: boolean): Float32Array =>
  projection === 'down' ? (gated ? x.interSqNormGated : x.interSqNorm) : gated ? x.inputSqNormGated : x.inputSqNorm;

/** An attention piece's column statistic: its projection's own input (attentionShapes). */
function attentionStatistic(piece: PrunePiece, stats: LayerStats): Float32Array {
  const statistic =
    piece.projection === 'o'
      ? stats.attnOInputSqNorm
      : piece.projection === 'q_b'
        ? stats.attnQBInputSqNorm
        : piece.projection === 'kv_b'
          ? stats.attnKvBInputSqNorm
          : stats.attnInputSqNorm;
  // Statistics files from before MLA's q_b / kv_b inputs were measured read those as NaN (stats.ts ADDED_LATER).
  if (!statistic || statistic.length !== piece.cols || Number.isNaN(statistic[0]))
    throw new RangeError(`${piece.label}: the statistics have no ${piece.statisticName} [${piece.cols}] (calibrate again with this version)`);
  return statistic;
}

/** The piece's column statistic [cols]: plain (Wanda) or router-weighted (MoE-Pruner; attention has none). */
export function pieceStatistic(piece: PrunePiece, stats: LayerStats, gated: boolean): Float32Array {
  if (piece.expert === null) return attentionStatistic(piece, stats);
  if (piece.expert === 'shared') {
    if (!stats.shared) throw new RangeError(`${piece.label}: the statistics have no shared expert`);
    return expertColumns(stats.shared, piece.projection, gated);
  }
  return expertColumns(stats.experts[piece.expert], piece.projection, gated);
}

/** The statistic's file name as `pieceStatistic` picks it, for error messages. */
export function pieceStatisticName(piece: PrunePiece, gated: boolean): string {
  return gated && piece.expert !== null ? `${piece.statisticName}_gated` : piece.statisticName;
}

/** Elements of the canonical matrix `key` in a MoE layer of `spec`. */
export function canonicalElements(spec: MoeModelSpec, key: MatrixKey): number {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H, numHeads, numKvHeads, headDim: D } = spec;
  const S = spec.sharedExpert?.ffnSize ?? 0;
  const mla = spec.mla;
  switch (key) {
    case 'experts.gate_up':
      return E * 2 * I * H;
    case 'experts.down':
      return E * H * I;
    case 'attn.q':
      return numHeads * D * H;
    case 'attn.o':
      return attentionOutputWidth(spec) * H;
    case 'attn.k':
    case 'attn.v':
      return numKvHeads * D * H;
    case 'attn.q_a':
      return (mla?.qLoraRank ?? 0) * H;
    case 'attn.q_b':
      return numHeads * D * (mla?.qLoraRank ?? 0);
    case 'attn.kv_a':
      return mla ? (mla.kvLoraRank + mla.qkRopeDim) * H : 0;
    case 'attn.kv_b':
      return mla ? numHeads * (mla.qkNopeDim + mla.vDim) * mla.kvLoraRank : 0;
    case 'shared.gate_up':
      return 2 * S * H;
    case 'shared.down':
      return S * H;
  }
}

/** The attention matrices a MoE layer of `spec` has, in canonical order (MLA: q or q_a, q_b; kv_a, kv_b; o). */
function attentionKeys(spec: MoeModelSpec): MatrixKey[] {
  return attentionShapes(spec).map((a): MatrixKey => `attn.${a.projection}`);
}

/** Whether a MoE layer of `spec` has canonical matrix `key` (the shared expert's, MLA's or plain attention's). */
export function hasCanonicalMatrix(spec: MoeModelSpec, key: MatrixKey): boolean {
  if (key.startsWith('shared.')) return spec.sharedExpert !== null;
  if (key.startsWith('attn.')) return attentionKeys(spec).includes(key);
  return true;
}

/** The canonical matrices `targets` cover in layer `layer` (none in non-MoE layers). */
export function targetKeys(spec: MoeModelSpec, layer: number, targets: readonly PruneTarget[]): MatrixKey[] {
  if (!spec.moeLayers[layer]) return [];
  const keys: MatrixKey[] = [];
  if (targets.includes('experts')) keys.push('experts.gate_up', 'experts.down');
  if (targets.includes('attention')) keys.push(...attentionKeys(spec));
  if (targets.includes('shared') && spec.sharedExpert) keys.push('shared.gate_up', 'shared.down');
  return keys;
}
