/**
 * The pruning pipeline on the GPU (docs/pruning.md): calibration statistics (given, or measured now; dense, or
 * sequential through calibrateOnGpu's per-layer callback), expert dropping by a criterion, the layer allocation
 * (uniform or OWL), per-layer keep-masks from the pruning core written into GPU-resident canonical bitsets
 * (layer-masks.ts), or SparseGPT's masks and updated weights (src/gpu/sparsegpt). The masks apply on the fly in the
 * forward; the dense weights are never written, so dense <-> pruned is a switch. The report counts kept weights
 * from the masks by popcount on the GPU.
 *
 *   const run = await prunePipeline(model, settings, { windows }, { onProgress, signal });
 *   await evaluatePerplexity(model, ids, { ctx, masks: run.masks });   // pruned
 *   run.report;                        // achieved sparsity per matrix / layer / expert, dropped experts, targets
 *   await run.readMaskSet();           // CPU copy for masks.safetensors and the export (src/engine/export)
 *   run.destroy();
 *
 * Decisions shared with the CPU reference pipeline (src/engine/reference/prune-pipeline.ts), whose masks these equal
 * bit for bit: src/engine/prune/pipeline-plan.ts. Docs: docs/pruning.md ("Pipeline").
 */
import type { CalibrationStats, LayerStats } from '../../engine/calibration/stats.ts';
import { layerSummary, moeLayerIndices, owlNeedsStatistics, planDrop, statsOf, type LayerDrop } from '../../engine/prune/pipeline-plan.ts';
import { checkPipelineSettings, needsCalibration, type PipelineSettings } from '../../engine/prune/pipeline-settings.ts';
import { pruneReport } from '../../engine/prune/report.ts';
import { calibrateOnGpu } from '../calibration/calibrate.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { GpuMaskSet, maskedMatrixInfo } from '../model/gpu-mask-set.ts';
import { WEIGHT_BYTES } from '../weights.ts';
import type { MatrixKey } from '../../engine/model/mask-set.ts';
import { pruneAccounting } from '../../engine/prune/accounting.ts';
import { pruneLayerOnGpu, type GpuLayerPruning } from './layer-masks.ts';
import {
  allocateOnGpu,
  calibrationInfo,
  countPieces,
  denseStatistics,
  PipelineRun,
  progress,
  requireWindows,
  type PipelineCalibration,
  type PipelineOptions,
} from './pipeline-run.ts';
import { sparseGptPipeline } from './pipeline-sparsegpt.ts';
import { neuronPipeline } from './neuron-pipeline.ts';

export { PipelineRun, type PipelineCalibration, type PipelineOptions, type PipelineProgress } from './pipeline-run.ts';

/** Runs the pipeline on `model` (see the file comment). */
export async function prunePipeline(
  model: GpuModel,
  settings: PipelineSettings,
  calibration: PipelineCalibration = {},
  options: PipelineOptions = {},
): Promise<PipelineRun> {
  const started = performance.now();
  checkPipelineSettings(settings, model.spec);
  if (settings.method === 'sparsegpt') return sparseGptPipeline(model, settings, calibration, options, started);
  if (settings.structure === 'neurons') return neuronPipeline(model, settings, calibration, options, started);
  const { spec } = model;
  const layers = moeLayerIndices(spec);
  const measure = needsCalibration(settings) || calibration.measure === true;
  const sequential = settings.mode === 'sequential' && measure;
  const needDense = owlNeedsStatistics(settings) || (!sequential && measure);
  const dense = needDense ? await denseStatistics(model, calibration, options, `${settings.method} in dense mode`) : (calibration.stats ?? null);
  const allocation = await allocateOnGpu(model, settings, dense, options);
  const pruned: GpuLayerPruning[] = [];
  const drops = new Map<number, LayerDrop>();
  const pruneLayer = async (l: number, stats: LayerStats | null, tokens: number) => {
    options.signal?.throwIfAborted();
    const drop = planDrop(settings, l, stats, tokens, spec);
    drops.set(l, drop);
    const layer = await pruneLayerOnGpu(model, l, settings, allocation.targets.get(l)!, drop.dropped, stats, drop.protected);
    await masks.put(l, layer.masks, layer.buffers);
    pruned.push(layer);
    progress(options.onProgress, { phase: 'prune', done: pruned.length, total: layers.length, layer: l }, `Pruned layer ${l}`);
    return layer;
  };
  // Each layer's masks join the set as they are made (a streamed model's go to host memory with their layer).
  const masks = GpuMaskSet.forModel(model);
  let stats: CalibrationStats | null = dense;
  try {
    if (sequential) {
      const windows = requireWindows(calibration, `${settings.method} in sequential mode`);
      const tokens = windows.length * windows[0].length;
      const result = await calibrateOnGpu(model, windows, {
        mode: 'sequential',
        tokensPerBatch: calibration.tokensPerBatch,
        signal: options.signal,
        onProgress: (p) =>
          progress(
            options.onProgress,
            { phase: 'calibrate', done: p.done, total: p.total, layer: p.layer },
            `Sequential calibration: layer ${p.layer ?? 0} (${p.phase})`,
          ),
        gpuMasksForLayer: async (l, layerStats) => (await pruneLayer(l, layerStats, tokens)).masks,
      });
      stats = result.stats;
    } else {
      // A streamed model (docs/forward.md "Layer streaming") brings each layer's weights up for its masks only.
      for (const l of layers) await model.withLayer(l, () => pruneLayer(l, statsOf(dense, l), dense?.tokens ?? 0));
    }
    progress(options.onProgress, { phase: 'report', done: 0, total: 1 }, 'Counting kept weights');
    const counts = await countPieces(model, masks, pruned);
    model.ctx.throwIfFailed();
    const summaries = layers.map((l) => layerSummary(l, allocation, drops.get(l) ?? { dropped: [], criterionValues: null }));
    const info = calibrationInfo(calibration, stats, sequential ? 'sequential' : 'dense');
    const run = pruneReport(settings, info, summaries, counts, (performance.now() - started) / 1000);
    // Masks save nothing on disk or in the lab; dropped experts leave the export (E - r experts).
    const expertsLeft = spec.numExperts - ([...drops.values()].find((d) => d.dropped.length)?.dropped.length ?? 0);
    const buffers = pruned.flatMap((p) => Object.entries(p.masks.matrices).map(([key, b]) => ({ key: key as MatrixKey, bytes: b.size })));
    const enabled = pruned.filter((p) => p.masks.expertEnabled).map(() => ({ key: 'expert_enabled' as const, bytes: 4 * spec.numExperts }));
    const dtype = layers.length ? maskedMatrixInfo(model, layers[0], 'experts.gate_up')?.dtype : undefined;
    if (dtype) run.accounting = pruneAccounting(spec, { ...spec, numExperts: expertsLeft }, WEIGHT_BYTES[dtype], [...buffers, ...enabled]);
    const dropped = new Map([...drops].map(([l, d]) => [l, d.dropped]));
    return new PipelineRun(
      model,
      masks,
      run,
      stats,
      dropped,
      async () => null,
      () => {},
    );
  } catch (error) {
    masks.destroy();
    throw error;
  }
}
