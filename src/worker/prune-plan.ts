/**
 * Which weights a pruning request scores in one layer, located in the engine's canonical matrices
 * (src/engine/model/masks.ts): experts.gate_up [E, 2I, H] (expert e's I gate rows at element e*2I*H, its I up rows
 * after them), experts.down [E, H, I] (expert e at e*H*I), attn.q [Hq*D, H], attn.k / attn.v [Hkv*D, H],
 * attn.o [H, Hq*D], shared.gate_up [2S, H] (gate rows, then up rows), shared.down [H, S]. Each piece names the
 * statistic its input columns are scored with (ARCHITECTURE.md): the expert's input for gate/up, its intermediate
 * act(gate(x)) * up(x) for down; the router-weighted (gated) version for MoE-Pruner. Attention has no gate, so
 * MoE-Pruner scores it like Wanda. Pure: no GPU.
 */
import type { PruneTargetName } from '../api/lab.ts';
import type { ExpertStats, LayerStats } from '../engine/calibration/stats.ts';
import type { MatrixKey } from '../engine/model/masks.ts';
import type { MoeModelSpec } from '../engine/model/spec.ts';

/** What a piece is, for the per-matrix report: 'experts.gate', 'attn.q', 'shared.down'… */
export type PieceKind = 'experts.gate' | 'experts.up' | 'experts.down' | 'attn.q' | 'attn.k' | 'attn.v' | 'attn.o' | 'shared.gate' | 'shared.up' | 'shared.down';

export interface PrunePiece {
  key: MatrixKey;
  kind: PieceKind;
  /** Routed expert index, or null. */
  expert: number | null;
  /** 'layers.3.experts.5.gate', as reports and errors name it. */
  label: string;
  rows: number;
  cols: number;
  /** First element inside the canonical matrix `key`. */
  elementOffset: number;
  /** Comparison group id for group 'layer': routed experts, attention and the shared expert compete apart. */
  layerGroup: number;
  /** The column statistic [cols]: plain (Wanda) or router-weighted (MoE-Pruner). */
  statistic(stats: LayerStats, gated: boolean): Float32Array;
}

const expertColumns = (x: ExpertStats, projection: 'gate' | 'up' | 'down', gated: boolean) =>
  projection === 'down' ? (gated ? x.interSqNormGated : x.interSqNorm) : gated ? x.inputSqNormGated : x.inputSqNorm;

/** The pieces of layer `layer` for `targets`, skipping routed experts in `dropped` (they are pruned whole). */
export function layerPieces(spec: MoeModelSpec, layer: number, targets: readonly PruneTargetName[], dropped: ReadonlySet<number> = new Set()): PrunePiece[] {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H, numHeads, numKvHeads, headDim: D } = spec;
  const pieces: PrunePiece[] = [];
  const isMoe = spec.moeLayers[layer];
  if (targets.includes('experts') && isMoe) {
    for (let e = 0; e < E; e++) {
      if (dropped.has(e)) continue;
      for (const projection of ['gate', 'up'] as const) {
        pieces.push({
          key: 'experts.gate_up',
          kind: `experts.${projection}`,
          expert: e,
          label: `layers.${layer}.experts.${e}.${projection}`,
          rows: I,
          cols: H,
          elementOffset: (2 * e + (projection === 'up' ? 1 : 0)) * I * H,
          layerGroup: 0,
          statistic: (s, gated) => expertColumns(s.experts[e], projection, gated),
        });
      }
      pieces.push({
        key: 'experts.down',
        kind: 'experts.down',
        expert: e,
        label: `layers.${layer}.experts.${e}.down`,
        rows: H,
        cols: I,
        elementOffset: e * H * I,
        layerGroup: 0,
        statistic: (s, gated) => expertColumns(s.experts[e], 'down', gated),
      });
    }
  }
  if (targets.includes('attention')) {
    const attention = (key: 'attn.q' | 'attn.k' | 'attn.v' | 'attn.o', rows: number, cols: number): PrunePiece => ({
      key,
      kind: key,
      expert: null,
      label: `layers.${layer}.${key.replace('attn.', 'self_attn.')}_proj`,
      rows,
      cols,
      elementOffset: 0,
      layerGroup: 1,
      statistic: (s) => (key === 'attn.o' ? s.attnOInputSqNorm : s.attnInputSqNorm),
    });
    pieces.push(attention('attn.q', numHeads * D, H), attention('attn.k', numKvHeads * D, H), attention('attn.v', numKvHeads * D, H), attention('attn.o', H, numHeads * D));
  }
  if (targets.includes('shared') && isMoe && spec.sharedExpert) {
    const S = spec.sharedExpert.ffnSize;
    for (const projection of ['gate', 'up'] as const) {
      pieces.push({
        key: 'shared.gate_up',
        kind: `shared.${projection}`,
        expert: null,
        label: `layers.${layer}.shared.${projection}`,
        rows: S,
        cols: H,
        elementOffset: projection === 'up' ? S * H : 0,
        layerGroup: 2,
        statistic: (s, gated) => expertColumns(s.shared!, projection, gated),
      });
    }
    pieces.push({
      key: 'shared.down',
      kind: 'shared.down',
      expert: null,
      label: `layers.${layer}.shared.down`,
      rows: H,
      cols: S,
      elementOffset: 0,
      layerGroup: 2,
      statistic: (s, gated) => expertColumns(s.shared!, 'down', gated),
    });
  }
  return pieces;
}

/** Elements of the canonical matrix `key` in a layer of `spec`. */
export function canonicalElements(spec: MoeModelSpec, key: MatrixKey): number {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H, numHeads, numKvHeads, headDim: D } = spec;
  const S = spec.sharedExpert?.ffnSize ?? 0;
  switch (key) {
    case 'experts.gate_up':
      return E * 2 * I * H;
    case 'experts.down':
      return E * H * I;
    case 'attn.q':
    case 'attn.o':
      return numHeads * D * H;
    case 'attn.k':
    case 'attn.v':
      return numKvHeads * D * H;
    case 'shared.gate_up':
      return 2 * S * H;
    case 'shared.down':
      return S * H;
  }
}

/** The canonical matrices `targets` cover in a layer (whose masks start all-kept, dropped experts all-pruned). */
export function targetKeys(spec: MoeModelSpec, layer: number, targets: readonly PruneTargetName[]): MatrixKey[] {
  const keys: MatrixKey[] = [];
  if (targets.includes('experts') && spec.moeLayers[layer]) keys.push('experts.gate_up', 'experts.down');
  if (targets.includes('attention')) keys.push('attn.q', 'attn.k', 'attn.v', 'attn.o');
  if (targets.includes('shared') && spec.moeLayers[layer] && spec.sharedExpert) keys.push('shared.gate_up', 'shared.down');
  return keys;
}

export type ExpertCriterionName = 'frequency' | 'gate' | 'reap';

/**
 * Experts to drop in one layer: the `count` with the lowest criterion (ties: the lower index first), where
 * frequency = tokens routed to the expert, gate = the sum of its gate weights, and REAP (Lasby et al. 2025) =
 * the mean over its tokens of g * ||expert output||_2 (router-weighted expert activation).
 */
export function expertsToDrop(stats: LayerStats, count: number, criterion: ExpertCriterionName): number[] {
  const E = stats.expertTokens.length;
  const value = (e: number) =>
    criterion === 'frequency'
      ? stats.expertTokens[e]
      : criterion === 'gate'
        ? stats.expertGateSum[e]
        : stats.expertTokens[e] > 0
          ? stats.expertOutputNormGatedSum[e] / stats.expertTokens[e]
          : 0;
  const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => value(a) - value(b) || a - b);
  return order.slice(0, Math.max(0, Math.min(count, E - 1))).sort((a, b) => a - b);
}

/**
 * OWL layer sparsities (Yin et al. 2023, "Outlier Weighed Layerwise sparsity"): from each layer's outlier ratio
 * D_l (share of Wanda scores above M times the layer's mean score), densities are D_l rescaled to [0, 2 lambda],
 * shifted so they average 1 - S; sparsity_l = 1 - density_l, clamped to [0, 0.95]. Equal ratios give S everywhere.
 * M = 5 and lambda = 0.08 are the paper's defaults.
 */
export function owlSparsities(outlierRatios: readonly number[], sparsity: number, lambda = 0.08): number[] {
  if (outlierRatios.length === 0) return [];
  const min = Math.min(...outlierRatios);
  const max = Math.max(...outlierRatios);
  if (!(max > min)) return outlierRatios.map(() => sparsity);
  const scaled = outlierRatios.map((d) => ((d - min) / (max - min)) * 2 * lambda);
  const mean = scaled.reduce((a, b) => a + b, 0) / scaled.length;
  return scaled.map((d) => Math.min(0.95, Math.max(0, 1 - (d - mean + (1 - sparsity)))));
}

export const OWL_OUTLIER_FACTOR = 5;

/** Share of scores |w| * c_j above OWL_OUTLIER_FACTOR times their mean, over matrices [rows, cols] of one layer. */
export function outlierRatio(matrices: readonly { weights: Float32Array; factors: Float32Array; cols: number }[]): number {
  let sum = 0;
  let count = 0;
  for (const m of matrices) for (let i = 0; i < m.weights.length; i++) sum += Math.abs(m.weights[i]) * m.factors[i % m.cols];
  for (const m of matrices) count += m.weights.length;
  if (count === 0) return 0;
  const threshold = (OWL_OUTLIER_FACTOR * sum) / count;
  let outliers = 0;
  for (const m of matrices) for (let i = 0; i < m.weights.length; i++) if (Math.abs(m.weights[i]) * m.factors[i % m.cols] > threshold) outliers++;
  return outliers / count;
}
