/**
 * CPU reference of the pruning pipeline (the oracle of src/gpu/prune/pipeline.ts): given the canonical weights,
 * the statistics each layer is pruned with and the settings, the MaskSet the GPU must produce bit for bit. It
 * shares the pure decisions (pipeline-plan.ts: dropped experts, layer targets, OWL) and scores every piece with
 * the core's sorting reference (prune/sorted-masks.ts); nothing of the GPU path (radix select, word placement in the
 * canonical buffers, popcount) is involved. Sequential mode: pass the statistics the sequential run measured
 * (each layer's inputs came through the pruned prefix); the masks then follow from them exactly as in dense mode.
 */
import type { CalibrationStats } from '../calibration/stats.ts';
import { allKeptMask, type LayerMasks, type MaskSet, type MatrixKey } from '../model/mask-set.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import { expertEnabledVector } from '../prune/expert-drop.ts';
import { canonicalElements, droppedExpertPieces, layerPieces, targetKeys, type PrunePiece } from '../prune/layer-plan.ts';
import { markPruned } from '../model/keep-mask.ts';
import {
  allocate,
  layerSummary,
  moeLayerIndices,
  pieceFactors,
  pieceOutliers,
  pieceWeights,
  planDrop,
  untouchedExperts,
  statsOf,
  type LayerDrop,
} from '../prune/pipeline-plan.ts';
import { checkPipelineSettings, coreSettings, prunesWeights, type PipelineSettings } from '../prune/pipeline-settings.ts';
import { pruneMasksReference, type ReferenceMatrix } from './prune/sorted-masks.ts';
import type { LayerPlanSummary, PieceCount } from '../prune/report.ts';
import { PruneRequestError, usesColumnFactors } from '../prune/settings.ts';

export interface ReferencePipelineInput {
  spec: MoeModelSpec;
  /** Values of canonical matrix `key` of layer `layer`, widened exactly to f32. */
  canonical(layer: number, key: MatrixKey): Promise<Float32Array>;
  /** Statistics to prune with (null when the settings need none). OWL reads them too. */
  stats: CalibrationStats | null;
  /** OWL's ratios and the drops it excludes come from these (dense) statistics; default `stats`. */
  allocationStats?: CalibrationStats | null;
  settings: PipelineSettings;
}

export interface ReferencePipelineResult {
  masks: MaskSet;
  layers: LayerPlanSummary[];
  counts: PieceCount[];
}

/** Copies bits [0, count) of `source` to bits [at, at + count) of `target` (one bit at a time: the oracle). */
function placeBits(target: Uint32Array, at: number, source: Uint32Array, count: number): void {
  for (let i = 0; i < count; i++) {
    if (!((source[i >>> 5] >>> (i & 31)) & 1)) markPruned(target, at + i);
  }
}

function keptIn(mask: Uint32Array, piece: PrunePiece): number {
  let kept = 0;
  for (let i = 0; i < piece.rows * piece.cols; i++) kept += (mask[(piece.elementOffset + i) >>> 5] >>> ((piece.elementOffset + i) & 31)) & 1;
  return kept;
}

/** The pipeline's masks, layer plans and per-piece kept counts, on the CPU. */
export async function referencePipeline(input: ReferencePipelineInput): Promise<ReferencePipelineResult> {
  const { spec, settings, stats } = input;
  checkPipelineSettings(settings, spec);
  if (settings.method === 'sparsegpt')
    throw new PruneRequestError('the reference pipeline covers the mask methods; SparseGPT has its own reference (src/engine/sparsegpt)');
  const allocationStats = input.allocationStats === undefined ? stats : input.allocationStats;
  const layers = moeLayerIndices(spec);
  const tokens = (s: CalibrationStats | null) => s?.tokens ?? 0;
  const drops = new Map<number, LayerDrop>(layers.map((l) => [l, planDrop(settings, l, statsOf(stats, l), tokens(stats), spec)]));
  const allocationDrops = new Map(layers.map((l) => [l, untouchedExperts(planDrop(settings, l, statsOf(allocationStats, l), tokens(allocationStats), spec))]));
  const allocation = await allocate(spec, settings, allocationDrops, (l, pieces) =>
    pieceOutliers(settings, pieces, statsOf(allocationStats, l), (key) => input.canonical(l, key)),
  );

  const masks: MaskSet = { layers: spec.moeLayers.map(() => null) };
  const counts: PieceCount[] = [];
  for (const l of layers) {
    const { dropped } = drops.get(l)!;
    const keys = targetKeys(spec, l, settings.targets);
    const layer: LayerMasks = { matrices: {} };
    for (const key of keys) layer.matrices[key] = allKeptMask(canonicalElements(spec, key));
    const droppedPieces = settings.targets.includes('experts') ? droppedExpertPieces(spec, l, dropped) : [];
    for (const piece of droppedPieces) {
      for (let i = 0; i < piece.rows * piece.cols; i++) markPruned(layer.matrices[piece.key]!, piece.elementOffset + i);
    }
    const pieces = layerPieces(spec, l, settings.targets, new Set(untouchedExperts(drops.get(l)!)));
    if (prunesWeights(settings) && pieces.length) {
      const core = coreSettings(settings, allocation.targets.get(l)!);
      const matrices: ReferenceMatrix[] = [];
      for (const piece of pieces) {
        const factors = usesColumnFactors(core.method) ? pieceFactors(piece, statsOf(stats, l), core.method as 'wanda' | 'moe-pruner') : null;
        matrices.push({ ...piece, weights: pieceWeights(piece, await input.canonical(l, piece.key)), columnFactors: factors });
      }
      const result = pruneMasksReference(core, matrices);
      pieces.forEach((piece, i) => placeBits(layer.matrices[piece.key]!, piece.elementOffset, result.masks[i], piece.rows * piece.cols));
    }
    if (dropped.length) layer.expertEnabled = expertEnabledVector(spec.numExperts, dropped);
    if (keys.length || dropped.length) masks.layers[l] = layer;
    for (const piece of pieces) counts.push({ piece, kept: keptIn(layer.matrices[piece.key]!, piece), dropped: false });
    for (const piece of droppedPieces) counts.push({ piece, kept: keptIn(layer.matrices[piece.key]!, piece), dropped: true });
  }
  return { masks, layers: layers.map((l) => layerSummary(l, allocation, drops.get(l)!)), counts };
}
