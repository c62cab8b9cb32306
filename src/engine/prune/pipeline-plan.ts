/**
 * The decisions of a pipeline run that come before any mask, shared by the CPU reference pipeline
 * (src/engine/reference/prune-pipeline.ts) and the GPU pipeline (src/gpu/prune/pipeline.ts) so both decide alike:
 * - which experts each MoE layer drops (expert-drop.ts), from that layer's statistics;
 * - each layer's target sparsity: the global target (uniform), 1 - N/M for N:M, or OWL's allocation (owl.ts) over
 *   the MoE layers, with each layer's outlier ratio computed over the pieces it will prune.
 */
import type { CalibrationStats, LayerStats } from '../calibration/stats.ts';
import type { MatrixKey } from '../model/mask-set.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import { superExperts } from '../calibration/expert-criteria.ts';
import { expertCriterionValues, expertGroups, lowestExpertsPerGroup } from './expert-drop.ts';
import { layerPieces, pieceStatistic, pieceStatisticName, type PrunePiece } from './layer-plan.ts';
import { layerOutliers, owlLayerSparsities, owlScoreMethod, type OutlierCount, type OwlMatrix } from './owl.ts';
import { prunesWeights, type PipelineSettings } from './pipeline-settings.ts';
import type { LayerPlanSummary } from './report.ts';
import { columnFactors } from './scores.ts';
import { PruneRequestError, usesColumnFactors } from './settings.ts';

/** MoE layers, in order: the only layers a run prunes. */
export function moeLayerIndices(spec: MoeModelSpec): number[] {
  return spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
}

/** The sparsity every layer gets without OWL: the target, or 1 - N/M for an N:M pattern. */
export function uniformSparsity(settings: PipelineSettings): number {
  return settings.pattern.kind === 'n:m' ? 1 - settings.pattern.n / settings.pattern.m : settings.sparsity;
}

export interface LayerDrop {
  dropped: number[];
  /** [E] the criterion's values, when experts are dropped. */
  criterionValues: number[] | null;
  /** Experts `protect` keeps whole: never dropped, their weights never pruned (super experts, expert-criteria.ts). */
  protected?: number[];
}

/** Experts whose weights a layer leaves alone: the dropped ones (removed whole) and the protected ones (kept whole). */
export function untouchedExperts(drop: LayerDrop): number[] {
  return [...drop.dropped, ...(drop.protected ?? [])];
}

/**
 * Experts layer `layer` drops under `settings`, from its statistics (`tokens`: calibration tokens, T); with
 * protect = super-experts the layer's super experts are never among them (they rank as +inf) and are reported.
 * Under group-limited routing the criterion ranks within each routing group and each group drops r / n_group.
 */
export function planDrop(settings: PipelineSettings, layer: number, stats: LayerStats | null, tokens: number, spec: Pick<MoeModelSpec, 'routing'>): LayerDrop {
  const protect = settings.protect === 'super-experts';
  if (settings.expertsDrop === 0 && !protect) return { dropped: [], criterionValues: null };
  if (!stats) throw new PruneRequestError(`layer ${layer}: ${protect ? 'protecting super experts' : 'dropping experts'} needs its calibration statistics`);
  const kept = protect ? superExperts(stats) : [];
  const base: LayerDrop = { dropped: [], criterionValues: null, ...(protect ? { protected: kept } : {}) };
  if (settings.expertsDrop === 0) return base;
  const values = expertCriterionValues(stats, settings.expertCriterion, tokens);
  const ranked = values.map((v, e) => (kept.includes(e) ? Infinity : v));
  const groups = expertGroups(spec);
  const size = values.length / groups;
  for (let g = 0; g < groups; g++) {
    const inGroup = kept.filter((e) => Math.floor(e / size) === g);
    if (settings.expertsDrop / groups > size - inGroup.length) {
      const where = groups > 1 ? ` from routing group ${g} (experts ${g * size}..${(g + 1) * size - 1})` : '';
      throw new PruneRequestError(
        `layer ${layer}: cannot drop ${settings.expertsDrop / groups} experts${where} while protecting super experts ${kept.join(', ')}`,
      );
    }
  }
  return { ...base, dropped: lowestExpertsPerGroup(ranked, settings.expertsDrop, groups), criterionValues: Array.from(values) };
}

/** Column factors c_j of a piece under `method`'s statistic (plain for wanda, gated for moe-pruner). */
export function pieceFactors(piece: PrunePiece, stats: LayerStats | null, method: 'wanda' | 'moe-pruner'): Float32Array {
  if (!stats) throw new PruneRequestError(`${piece.label}: ${method} needs calibration statistics of layer ${piece.layer}`);
  const gated = method === 'moe-pruner';
  return columnFactors(pieceStatistic(piece, stats, gated), pieceStatisticName(piece, gated));
}

/** A piece's weights [rows, cols] from its canonical matrix's values. */
export function pieceWeights(piece: PrunePiece, canonical: Float32Array): Float32Array {
  return canonical.subarray(piece.elementOffset, piece.elementOffset + piece.rows * piece.cols);
}

/** OWL's D_l of one layer over `pieces`, weights from `canonicalOf(key)` (f32 values of the canonical matrix). */
export async function pieceOutliers(
  settings: PipelineSettings,
  pieces: readonly PrunePiece[],
  stats: LayerStats | null,
  canonicalOf: (key: MatrixKey) => Promise<Float32Array>,
): Promise<OutlierCount> {
  const method = owlScoreMethod(settings.method);
  const matrices: OwlMatrix[] = [];
  for (const piece of pieces) {
    const factors = method === 'wanda' || method === 'moe-pruner' ? pieceFactors(piece, stats, method) : null;
    matrices.push({ weights: pieceWeights(piece, await canonicalOf(piece.key)), factors, cols: piece.cols });
  }
  return layerOutliers(method, matrices, settings.owl.outlierFactor);
}

export interface Allocation {
  /** Target sparsity per layer index (MoE layers only). */
  targets: Map<number, number>;
  /** OWL's outlier ratio per MoE layer (absent under the uniform allocation). */
  outlierRatios: Map<number, number> | null;
}

/**
 * Each MoE layer's target sparsity. OWL: the layers' outlier ratios over the pieces they prune (experts in
 * `drops` left out), weighted by their prunable weights (owl.ts). `outliersOf` computes one layer's ratio.
 */
export async function allocate(
  spec: MoeModelSpec,
  settings: PipelineSettings,
  drops: ReadonlyMap<number, readonly number[]>,
  outliersOf: (layer: number, pieces: PrunePiece[]) => Promise<OutlierCount>,
): Promise<Allocation> {
  const layers = moeLayerIndices(spec);
  if (settings.allocation === 'uniform' || !prunesWeights(settings)) {
    return { targets: new Map(layers.map((l) => [l, uniformSparsity(settings)])), outlierRatios: null };
  }
  const ratios: number[] = [];
  const weights: number[] = [];
  for (const l of layers) {
    const pieces = layerPieces(spec, l, settings.targets, new Set(drops.get(l) ?? []));
    ratios.push((await outliersOf(l, pieces)).ratio);
    weights.push(pieces.reduce((n, p) => n + p.rows * p.cols, 0));
  }
  const sparsities = owlLayerSparsities(ratios, weights, settings.sparsity, settings.owl.lambda, layers);
  return { targets: new Map(layers.map((l, i) => [l, sparsities[i]])), outlierRatios: new Map(layers.map((l, i) => [l, ratios[i]])) };
}

/** Whether OWL needs statistics to score (wanda-like scores); magnitude-like scores need none. */
export function owlNeedsStatistics(settings: PipelineSettings): boolean {
  return settings.allocation === 'owl' && prunesWeights(settings) && usesColumnFactors(owlScoreMethod(settings.method));
}

/** The report's per-layer summary. */
export function layerSummary(layer: number, allocation: Allocation, drop: LayerDrop): LayerPlanSummary {
  const out: LayerPlanSummary = { layer, target: allocation.targets.get(layer) ?? 0, droppedExperts: drop.dropped };
  const ratio = allocation.outlierRatios?.get(layer);
  if (ratio !== undefined) out.outlierRatio = ratio;
  if (drop.criterionValues) out.criterionValues = drop.criterionValues;
  if (drop.protected) out.protectedExperts = drop.protected;
  return out;
}

/** Dense statistics of `stats` for layer l, or null (no statistics, or a non-MoE layer). */
export function statsOf(stats: CalibrationStats | null, layer: number): LayerStats | null {
  return stats?.layers[layer] ?? null;
}
