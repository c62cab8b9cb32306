/**
 * What a pruning run did, from the masks themselves (kept counts by popcount, never from the settings): achieved
 * sparsity per matrix (layer, expert, projection), per layer, per routed expert and overall, the layer targets
 * (OWL varies them), the dropped experts with their criterion values, and the settings, seed and calibration that
 * reproduce the run. The JSON form is prune-report.json (the export adds the model and the file hashes).
 */
import type { PruneAccounting } from './accounting.ts';
import { patternName } from './settings.ts';
import type { PieceProjection, PrunePiece } from './layer-plan.ts';
import type { ExpertCriterion, PipelineSettings } from './pipeline-settings.ts';

export interface SparsityCount {
  weights: number;
  pruned: number;
  /** pruned / weights (0 for no weights). */
  sparsity: number;
}

export interface MatrixSparsity extends SparsityCount {
  name: string;
  layer: number;
  expert: number | 'shared' | null;
  projection: PieceProjection;
  /** A dropped expert's matrix: removed whole. */
  dropped: boolean;
}

export interface LayerSparsity extends SparsityCount {
  layer: number;
  /** Sparsity asked of this layer's remaining weights (OWL: its own; N:M: 1 - N/M). */
  target: number;
  /** OWL's outlier ratio D_l (absent under the uniform allocation). */
  outlierRatio?: number;
  droppedExperts: number[];
}

export interface ExpertSparsity extends SparsityCount {
  layer: number;
  expert: number;
  dropped: boolean;
}

export interface SparsityReport {
  overall: SparsityCount;
  layers: LayerSparsity[];
  experts: ExpertSparsity[];
  matrices: MatrixSparsity[];
}

/** One pruned (or dropped) piece and its kept weights. */
export interface PieceCount {
  piece: PrunePiece;
  kept: number;
  dropped: boolean;
}

export interface LayerPlanSummary {
  layer: number;
  target: number;
  outlierRatio?: number;
  droppedExperts: number[];
  /** [E] the drop criterion's values (when experts were dropped). */
  criterionValues?: number[];
  /** Super experts kept whole under protect = super-experts (never dropped, weights never pruned). */
  protectedExperts?: number[];
}

function count(weights: number, pruned: number): SparsityCount {
  return { weights, pruned, sparsity: weights ? pruned / weights : 0 };
}

function add(into: { weights: number; pruned: number }, weights: number, pruned: number): void {
  into.weights += weights;
  into.pruned += pruned;
}

/** Achieved sparsity at every level from per-piece kept counts; `layers` gives targets and dropped experts. */
export function sparsityReport(counts: readonly PieceCount[], layers: readonly LayerPlanSummary[]): SparsityReport {
  const matrices: MatrixSparsity[] = counts.map(({ piece, kept, dropped }) => {
    const weights = piece.rows * piece.cols;
    return { name: piece.label, layer: piece.layer, expert: piece.expert, projection: piece.projection, dropped, ...count(weights, weights - kept) };
  });
  const total = { weights: 0, pruned: 0 };
  const byLayer = new Map<number, { weights: number; pruned: number }>();
  const byExpert = new Map<string, { layer: number; expert: number; weights: number; pruned: number; dropped: boolean }>();
  for (const m of matrices) {
    add(total, m.weights, m.pruned);
    const layer = byLayer.get(m.layer) ?? { weights: 0, pruned: 0 };
    add(layer, m.weights, m.pruned);
    byLayer.set(m.layer, layer);
    if (typeof m.expert === 'number') {
      const key = `${m.layer}.${m.expert}`;
      const expert = byExpert.get(key) ?? { layer: m.layer, expert: m.expert, weights: 0, pruned: 0, dropped: m.dropped };
      add(expert, m.weights, m.pruned);
      byExpert.set(key, expert);
    }
  }
  return {
    overall: count(total.weights, total.pruned),
    layers: layers.map((l) => {
      const c = byLayer.get(l.layer) ?? { weights: 0, pruned: 0 };
      const out: LayerSparsity = { layer: l.layer, target: l.target, droppedExperts: l.droppedExperts, ...count(c.weights, c.pruned) };
      if (l.outlierRatio !== undefined) out.outlierRatio = l.outlierRatio;
      return out;
    }),
    experts: [...byExpert.values()]
      .sort((a, b) => a.layer - b.layer || a.expert - b.expert)
      .map((x) => ({ layer: x.layer, expert: x.expert, dropped: x.dropped, ...count(x.weights, x.pruned) })),
    matrices,
  };
}

/** How the calibration statistics were obtained (null when the method needed none). */
export interface CalibrationInfo {
  /** 'ids:FILE', 'text:FILE', 'stats:FILE' (a reused statistics file), or the page's text id. */
  source: string;
  mode: PipelineSettings['mode'];
  tokens: number;
  windows?: number;
  windowLength?: number;
  samples?: number;
  seqLen?: number;
  seed?: number;
}

export interface PruneReport {
  format: 'moe-lab-prune-report/1';
  method: PipelineSettings['method'];
  /** Every setting, the pattern as its name ('unstructured', '2:4'). */
  settings: Omit<PipelineSettings, 'pattern'> & { pattern: string };
  seed: number;
  calibration: CalibrationInfo | null;
  expertCriterion: ExpertCriterion | null;
  layers: LayerPlanSummary[];
  achieved: SparsityReport;
  seconds: number;
  /** Neuron pruning (structure neurons): the expert FFN size before and after, and the neurons each expert dropped. */
  neurons?: NeuronReport;
  /** Bytes on disk, on the GPU and read per token, dense vs pruned (accounting.ts). */
  accounting?: PruneAccounting;
}

/** What a neuron pruning removed (docs/pruning.md, "Neuron pruning"). */
export interface NeuronReport {
  /** I of the dense model. */
  ffn: number;
  /** I' = I - floor(I * s), every routed expert of every MoE layer. */
  keptFfn: number;
  /** Per MoE layer, per expert, the dropped neuron indices (ascending). */
  dropped: { layer: number; experts: number[][] }[];
}

/** The report of a run (JSON-ready). */
export function pruneReport(
  settings: PipelineSettings,
  calibration: CalibrationInfo | null,
  layers: LayerPlanSummary[],
  counts: readonly PieceCount[],
  seconds: number,
): PruneReport {
  return {
    format: 'moe-lab-prune-report/1',
    method: settings.method,
    settings: { ...settings, pattern: patternName(settings.pattern), targets: [...settings.targets] },
    seed: settings.seed,
    calibration,
    expertCriterion: settings.expertsDrop > 0 ? settings.expertCriterion : null,
    layers,
    achieved: sparsityReport(counts, layers),
    seconds,
  };
}
