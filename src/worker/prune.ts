/**
 * Pruning inside the worker, from the pieces the engine already has: calibration statistics (reused when they
 * match the request, else computed; sequential mode interleaves them with pruning layer by layer, as Wanda and
 * SparseGPT do), expert dropping by a criterion, OWL layer sparsities, keep-masks from the pruning core per layer
 * (prune-masks.ts) or SparseGPT's masks and updated weights (src/gpu/sparsegpt), uploaded once and applied on the
 * fly by every later forward. Also one point of a sweep (masks made, measured and freed) and the achieved
 * sparsity report. Deterministic: the same request on the same model gives the same masks.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { CalibrationSummary, PruneRequest, PruneSummary, SparsityCount, SweepPointRequest, SweepPointResult } from '../api/lab.ts';
import type { CalibrationStats, LayerStats } from '../engine/calibration/stats.ts';
import { countKept, type MaskSet, type MatrixKey } from '../engine/model/masks.ts';
import { decodeWeights } from '../engine/prune/packing.ts';
import { columnFactors } from '../engine/prune/scores.ts';
import { PruneRequestError } from '../engine/prune/settings.ts';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DAMP } from '../engine/sparsegpt/settings.ts';
import { calibrateOnGpu } from '../gpu/calibration/calibrate.ts';
import { evaluatePerplexity } from '../gpu/eval/perplexity.ts';
import type { GpuModel } from '../gpu/model/gpu-model.ts';
import { maskedMatrix, uploadMasks, type GpuMaskSet } from '../gpu/model/masks.ts';
import { sparseGptOnModel } from '../gpu/sparsegpt/run.ts';
import { WEIGHT_BYTES } from '../gpu/weights.ts';
import { calibrationKey, calibrationWindows, runCalibration } from './calibration.ts';
import { progressStep, type LabSession, type SessionMasks } from './lab-session.ts';
import { computeLayerMasks, coreSettings } from './prune-masks.ts';
import { expertsToDrop, layerPieces, outlierRatio, owlSparsities, type PieceKind } from './prune-plan.ts';
import type { TextLibrary } from './texts.ts';

interface Pruning {
  masks: MaskSet;
  gpu: GpuMaskSet;
  /** Target sparsity per layer (OWL varies it). */
  targets: number[];
  calibration: CalibrationSummary | null;
  updatedWeights?: SessionMasks['updatedWeights'];
  destroy(): void;
}

const needsStatistics = (request: PruneRequest) =>
  request.method === 'wanda' || request.method === 'moe-pruner' || request.expertsDrop > 0 || request.allocation === 'owl';

function refuse(error: unknown): never {
  if (error instanceof PruneRequestError) throw new EngineError({ kind: 'bad-request', message: `Pruning: ${error.message}.` });
  throw error;
}

/** Dense statistics of the request's calibration: the session's when they match, else computed now. */
async function denseStatistics(
  session: LabSession,
  texts: TextLibrary,
  request: PruneRequest,
  options: OperationOptions,
): Promise<{ stats: CalibrationStats; summary: CalibrationSummary | null }> {
  if (session.statistics?.key === calibrationKey(request.calibration)) return { stats: session.statistics.stats, summary: null };
  const summary = await runCalibration(session, texts, request.calibration, options);
  return { stats: session.statistics!.stats, summary };
}

/** OWL's per-layer sparsity from the dense statistics and the weights on the GPU (read one matrix at a time). */
async function owlTargets(model: GpuModel, stats: CalibrationStats, request: PruneRequest): Promise<number[]> {
  const { spec, ctx } = model;
  const moe = spec.moeLayers.flatMap((isMoe, l) => (isMoe && stats.layers[l] ? [l] : []));
  const ratios: number[] = [];
  for (const l of moe) {
    const pieces = layerPieces(spec, l, request.targets);
    const matrices = [];
    const cache = new Map<MatrixKey, Uint8Array>();
    for (const piece of pieces) {
      const matrix = maskedMatrix(model, l, piece.key)!;
      let bytes = cache.get(piece.key);
      if (!bytes) {
        bytes = new Uint8Array(await ctx.read(matrix.buffer));
        cache.set(piece.key, bytes);
      }
      const size = WEIGHT_BYTES[matrix.dtype];
      const weights = decodeWeights(bytes.subarray(piece.elementOffset * size), matrix.dtype, piece.rows * piece.cols);
      matrices.push({ weights, factors: columnFactors(piece.statistic(stats.layers[l]!, false), piece.label), cols: piece.cols });
    }
    ratios.push(outlierRatio(matrices));
  }
  const owl = owlSparsities(ratios, request.sparsity);
  return spec.moeLayers.map((_, l) => (moe.includes(l) ? owl[moe.indexOf(l)] : request.sparsity));
}

/** Masks (and SparseGPT's weights) for `request` on the loaded model; nothing is kept in the session here. */
async function prune(session: LabSession, texts: TextLibrary, request: PruneRequest, options: OperationOptions): Promise<Pruning> {
  const { onProgress, signal } = options;
  const model = await session.model(options);
  const { spec } = model;
  if (request.targets.length === 0) throw new EngineError({ kind: 'bad-request', message: 'Pruning: choose at least one kind of weight to prune.' });
  let calibration: CalibrationSummary | null = null;
  let dense: CalibrationStats | null = null;
  // Dense statistics: for scoring in dense mode, for dropping experts, and for OWL's outlier ratios in any mode.
  const wantDense = request.allocation === 'owl' || (request.method !== 'sparsegpt' && request.calibration.mode === 'dense' && needsStatistics(request));
  if (wantDense) {
    const got = await denseStatistics(session, texts, request, options);
    dense = got.stats;
    calibration = got.summary;
  }
  const targets = request.allocation === 'owl' && dense ? await owlTargets(model, dense, request) : spec.moeLayers.map(() => request.sparsity);
  const dropOf = (l: number, stats: LayerStats | null) => (stats && request.expertsDrop > 0 ? expertsToDrop(stats, request.expertsDrop, request.expertCriterion) : []);

  if (request.method === 'sparsegpt') return sparseGpt(session, texts, model, request, targets, calibration, options);

  let masks: MaskSet;
  if (request.calibration.mode === 'sequential' && needsStatistics(request)) {
    // Layer l's statistics through layers < l already pruned; its masks before layer l + 1 is measured.
    const { windows } = await calibrationWindows(session, texts, request.calibration);
    const result = await calibrateOnGpu(model, windows, {
      mode: 'sequential',
      signal,
      onProgress: (p) => onProgress?.(progressStep('compute', `Sequential calibration and pruning: layer ${p.layer ?? 0} (${p.phase})`, p.done, p.total)),
      masksForLayer: (l, stats) => computeLayerMasks(model, l, stats, request, targets[l], dropOf(l, stats)).catch(refuse),
    });
    masks = result.masks;
  } else {
    masks = { layers: [] };
    for (let l = 0; l < spec.numLayers; l++) {
      signal?.throwIfAborted();
      onProgress?.(progressStep('compute', `Pruning layer ${l} of ${spec.numLayers}`, l, spec.numLayers));
      const stats = dense?.layers[l] ?? null;
      // Without statistics (dense, non-MoE layers) the methods that need them leave the layer dense.
      const usable = stats !== null || !needsStatistics(request) || (request.method !== 'wanda' && request.method !== 'moe-pruner');
      masks.layers.push(usable ? await computeLayerMasks(model, l, stats, request, targets[l], dropOf(l, stats)).catch(refuse) : null);
    }
  }
  onProgress?.(progressStep('upload', 'Uploading the masks', spec.numLayers, spec.numLayers));
  const gpu = await uploadMasks(model, masks);
  return { masks, gpu, targets, calibration, destroy: () => gpu.destroy() };
}

/** SparseGPT (Frantar & Alistarh 2023) on the routed experts: masks plus updated weights, with experts dropped after. */
async function sparseGpt(
  session: LabSession,
  texts: TextLibrary,
  model: GpuModel,
  request: PruneRequest,
  targets: number[],
  calibration: CalibrationSummary | null,
  options: OperationOptions,
): Promise<Pruning> {
  const { windows } = await calibrationWindows(session, texts, request.calibration);
  const settings = { ...coreSettings(request, request.sparsity), blockSize: DEFAULT_BLOCK_SIZE, damp: DEFAULT_DAMP };
  const result = await sparseGptOnModel(model, windows, {
    settings: { sparsity: settings.sparsity, pattern: settings.pattern, blockSize: settings.blockSize, damp: settings.damp },
    mode: request.calibration.mode,
    layerSparsity: request.allocation === 'owl' ? (l) => targets[l] : undefined,
    signal: options.signal,
    onProgress: (p) => options.onProgress?.(progressStep('compute', `SparseGPT: ${p.phase}${p.layer !== undefined ? `, layer ${p.layer}` : ''}`, p.done, p.total)),
  }).catch(refuse);
  try {
    const masks = await result.readMaskSet();
    let gpu: GpuMaskSet = result.masks;
    let extra: GpuMaskSet | null = null;
    if (request.expertsDrop > 0) {
      // Drop experts by the criterion on SparseGPT's own statistics, then apply them with the updated weights.
      for (const [l, stats] of result.stats.layers.entries()) {
        if (!stats) continue;
        const drop = expertsToDrop(stats, request.expertsDrop, request.expertCriterion);
        const layer = (masks.layers[l] ??= { matrices: {} });
        layer.expertEnabled = Uint8Array.from({ length: model.spec.numExperts }, (_, e) => (drop.includes(e) ? 0 : 1));
      }
      extra = await uploadMasks(model, masks);
      extra.layers.forEach((layer, l) => {
        if (layer && result.masks.layers[l]?.weights) layer.weights = result.masks.layers[l]!.weights;
      });
      gpu = extra;
    }
    return {
      masks,
      gpu,
      targets,
      calibration,
      updatedWeights: async (layer, key) => (result.masks.layers[layer]?.weights?.[key] ? result.readWeights(layer, key) : null),
      destroy: () => {
        extra?.destroy();
        result.destroy();
      },
    };
  } catch (error) {
    result.destroy();
    throw error;
  }
}

/** Kept bits among elements [offset, offset + count) of a bitset. */
function keptIn(mask: Uint32Array, offset: number, count: number): number {
  if (offset % 32 === 0) return countKept(mask.subarray(offset / 32, offset / 32 + Math.ceil(count / 32)), count);
  let kept = 0;
  for (let e = offset; e < offset + count; e++) kept += (mask[e >>> 5] >>> (e & 31)) & 1;
  return kept;
}

/** Achieved sparsity per layer, matrix kind and expert, from the masks. */
export function summarizePruning(model: GpuModel, request: PruneRequest, pruning: Pick<Pruning, 'masks' | 'targets' | 'calibration'>, seconds: number): PruneSummary {
  const { spec } = model;
  const layers = pruning.masks.layers.flatMap((layer, l) => {
    if (!layer) return [];
    const byKind = new Map<PieceKind, SparsityCount>();
    const experts: SparsityCount[] = spec.moeLayers[l] && layer.matrices['experts.gate_up'] ? Array.from({ length: spec.numExperts }, (_, e) => ({ name: `expert ${e}`, weights: 0, pruned: 0 })) : [];
    for (const piece of layerPieces(spec, l, request.targets)) {
      const mask = layer.matrices[piece.key];
      if (!mask) continue;
      const weights = piece.rows * piece.cols;
      const pruned = weights - keptIn(mask, piece.elementOffset, weights);
      const kind = byKind.get(piece.kind) ?? { name: piece.kind, weights: 0, pruned: 0 };
      kind.weights += weights;
      kind.pruned += pruned;
      byKind.set(piece.kind, kind);
      if (piece.expert !== null && experts[piece.expert]) {
        experts[piece.expert].weights += weights;
        experts[piece.expert].pruned += pruned;
      }
    }
    const droppedExperts = layer.expertEnabled ? Array.from(layer.expertEnabled).flatMap((on, e) => (on ? [] : [e])) : [];
    return [{ layer: l, target: pruning.targets[l], matrices: [...byKind.values()], experts, droppedExperts }];
  });
  const all = layers.flatMap((l) => l.matrices);
  return {
    method: request.method,
    calibration: pruning.calibration,
    overall: { name: 'all', weights: all.reduce((n, m) => n + m.weights, 0), pruned: all.reduce((n, m) => n + m.pruned, 0) },
    layers,
    seconds,
  };
}

/** Prunes as `request` says and puts the masks in force. */
export async function runPrune(session: LabSession, texts: TextLibrary, request: PruneRequest, options: OperationOptions): Promise<PruneSummary> {
  const started = performance.now();
  const pruning = await prune(session, texts, request, options);
  const model = await session.model(options);
  const summary = summarizePruning(model, request, pruning, (performance.now() - started) / 1000);
  session.setMasks({ masks: pruning.masks, gpu: pruning.gpu, request, summary, updatedWeights: pruning.updatedWeights, destroy: pruning.destroy });
  return summary;
}

/** One sweep point: prune as asked into fresh masks, measure the pruned perplexity, free the masks. */
export async function runSweepPoint(session: LabSession, texts: TextLibrary, request: SweepPointRequest, options: OperationOptions): Promise<SweepPointResult> {
  const tokenizer = session.tokenizer('perplexity on a text');
  const pruning = await prune(session, texts, request.prune, { signal: options.signal });
  try {
    const model = await session.model(options);
    const summary = summarizePruning(model, request.prune, pruning, 0);
    const { ctx, maxTokens, text } = request.evaluate;
    const ids = await texts.firstTokens(tokenizer, text, maxTokens, true);
    const report = await evaluatePerplexity(model, ids, { ctx: Math.min(ctx, session.contextLimit), masks: pruning.gpu, signal: options.signal });
    return {
      method: request.prune.method,
      sparsity: request.prune.sparsity,
      achieved: summary.overall.weights ? summary.overall.pruned / summary.overall.weights : 0,
      perplexity: { tokens: report.tokens, nll: report.nll, ppl: report.ppl },
    };
  } finally {
    pruning.destroy();
  }
}
