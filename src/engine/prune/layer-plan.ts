/**
 * Which weights a pipeline run scores in one layer, located in the engine's canonical matrices
 * (src/engine/model/mask-set.ts): experts.gate_up [E, 2I, H] (expert e's I gate rows from element 2e*I*H, then its I
 * up rows), experts.down [E, H, I] (expert e from e*H*I), attn.q [Hq*D, H], attn.k / attn.v [Hkv*D, H],
 * attn.o [H, Hq*D], shared.gate_up [2S, H] (gate rows, then up rows), shared.down [H, S].
 *
 * Each piece names the calibration statistic its input columns are scored with (docs/architecture.md): the expert's
 * input for gate/up, its intermediate act(gate(x)) * up(x) for down; MoE-Pruner takes the router-weighted (gated)
 * version. Attention has no router weight, so MoE-Pruner scores it like Wanda; the shared expert's "gate" is its
 * sigmoid gate (1 when ungated). Pieces are listed in the tie order of a 'layer' group (matrices.ts): routed experts
 * in canonical order, then attention, then the shared expert, each kind its own layer group.
 * Only MoE layers are pruned: non-MoE layers have no calibration statistics and stay dense.
 */
import type { ExpertStats, LayerStats } from '../calibration/stats.ts';
import type { MatrixKey } from '../model/mask-set.ts';
import { attentionOutputWidth, type MoeModelSpec } from '../model/spec.ts';
import type { PruneMatrixShape } from './plan.ts';
import type { PruneTarget } from './pipeline-settings.ts';

export type PieceProjection = 'gate' | 'up' | 'down' | 'q' | 'k' | 'v' | 'o';

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
 * experts, then attention q/k/v/o, then the shared gate/up/down.
 */
function streamOf(layer: number, slot: number): number {
  return layer * 65536 + slot;
}

/** The pieces of MoE layer `layer` for `targets`, routed experts in `dropped` left out (they are removed whole). */
export function layerPieces(spec: MoeModelSpec, layer: number, targets: readonly PruneTarget[], dropped: ReadonlySet<number> = new Set()): PrunePiece[] {
  if (!spec.moeLayers[layer]) return [];
  const { numExperts: E, expertFfnSize: I, hiddenSize: H, numHeads, numKvHeads, headDim: D } = spec;
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
    const shapes = [
      ['q', numHeads * D, H],
      ['k', numKvHeads * D, H],
      ['v', numKvHeads * D, H],
      ['o', H, numHeads * D],
    ] as const;
    shapes.forEach(([projection, rows, cols], i) => {
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
        randomStream: streamOf(layer, 3 * E + i),
        statisticName: `layers.${layer}.attn.${projection === 'o' ? 'o_input_sqnorm' : 'input_sqnorm'}`,
      });
    });
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

/** The piece's column statistic [cols]: plain (Wanda) or router-weighted (MoE-Pruner; attention has none). */
export function pieceStatistic(piece: PrunePiece, stats: LayerStats, gated: boolean): Float32Array {
  if (piece.expert === null) return piece.projection === 'o' ? stats.attnOInputSqNorm : stats.attnInputSqNorm;
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
    case 'shared.gate_up':
      return 2 * S * H;
    case 'shared.down':
      return S * H;
  }
}

/** The canonical matrices `targets` cover in layer `layer` (none in non-MoE layers). */
export function targetKeys(spec: MoeModelSpec, layer: number, targets: readonly PruneTarget[]): MatrixKey[] {
  if (!spec.moeLayers[layer]) return [];
  const keys: MatrixKey[] = [];
  if (targets.includes('experts')) keys.push('experts.gate_up', 'experts.down');
  if (targets.includes('attention')) keys.push('attn.q', 'attn.k', 'attn.v', 'attn.o');
  if (targets.includes('shared') && spec.sharedExpert) keys.push('shared.gate_up', 'shared.down');
  return keys;
}
