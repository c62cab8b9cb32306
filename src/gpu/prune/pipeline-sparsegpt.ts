/**
 * `--method sparsegpt` in the pipeline: SparseGPT (Frantar & Alistarh 2023; src/gpu/sparsegpt, docs/sparsegpt.md)
 * calibrates with its Hessians and returns masks plus updated weights for the routed experts, and the shared
 * expert when the targets include 'shared' (else it stays dense); the pipeline adds what is common to every
 * method — OWL's layer sparsities (its `layerSparsity` hook), expert
 * dropping (dense mode: decided on SparseGPT's own statistics, the dropped experts' bits cleared and the experts
 * disabled in the router), the popcount report, and the updated weights for the export.
 */
import type { MatrixKey } from '../../engine/model/mask-set.ts';
import { expertEnabledVector } from '../../engine/prune/expert-drop.ts';
import { droppedExpertPieces, layerPieces } from '../../engine/prune/layer-plan.ts';
import { markPruned } from '../../engine/model/keep-mask.ts';
import { layerSummary, moeLayerIndices, owlNeedsStatistics, planDrop, statsOf, type LayerDrop } from '../../engine/prune/pipeline-plan.ts';
import type { PipelineSettings } from '../../engine/prune/pipeline-settings.ts';
import { pruneReport } from '../../engine/prune/report.ts';
import { PruneRequestError } from '../../engine/prune/settings.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { sparseGptOnModel } from '../sparsegpt/run.ts';
import { allocateOnGpu, calibrationInfo, countPieces, denseStatistics, PipelineRun, type PipelineCalibration, type PipelineOptions } from './pipeline-run.ts';

/** SparseGPT through the pipeline; `started` is the run's start (performance.now()) for the report. */
export async function sparseGptPipeline(
  model: GpuModel,
  settings: PipelineSettings,
  calibration: PipelineCalibration,
  options: PipelineOptions,
  started: number,
): Promise<PipelineRun> {
  const { ctx, spec } = model;
  const windows = calibration.windows;
  if (!windows?.length) throw new PruneRequestError('sparsegpt needs a calibration set (token windows): its Hessians are not in a statistics file');
  const dense = owlNeedsStatistics(settings) ? await denseStatistics(model, calibration, options, 'OWL') : null;
  const allocation = await allocateOnGpu(model, settings, dense, options);
  const result = await sparseGptOnModel(model, windows, {
    settings: { sparsity: settings.sparsity, pattern: settings.pattern, ...settings.sparseGpt },
    mode: settings.mode,
    // The routed experts always; the shared expert only when the targets name it.
    shared: settings.targets.includes('shared'),
    layerSparsity: settings.allocation === 'owl' ? (l) => allocation.targets.get(l)! : undefined,
    tokensPerBatch: calibration.tokensPerBatch,
    signal: options.signal,
    onProgress: (p) =>
      options.onProgress?.({ phase: 'calibrate', done: p.done, total: p.total, layer: p.layer, message: `SparseGPT: layer ${p.layer ?? 0} (${p.phase})` }),
  });
  try {
    const drops = new Map<number, LayerDrop>();
    const counted = [];
    for (const l of moeLayerIndices(spec)) {
      if (!result.layers.some((p) => p.layer === l)) continue;
      const drop = planDrop(settings, l, statsOf(result.stats, l), result.stats.tokens, spec);
      drops.set(l, drop);
      const droppedPieces = droppedExpertPieces(spec, l, drop.dropped);
      if (drop.dropped.length) {
        // Clear the dropped experts' bits (they are removed whole) in SparseGPT's canonical masks; disable them in the router.
        await result.masks.update(l, (masks) => {
          for (const piece of droppedPieces) {
            const bits = masks.matrices[piece.key]!;
            for (let i = 0; i < piece.rows * piece.cols; i++) markPruned(bits, piece.elementOffset + i);
          }
          masks.expertEnabled = Uint32Array.from(expertEnabledVector(spec.numExperts, drop.dropped));
        });
      }
      counted.push({ layer: l, pieces: layerPieces(spec, l, settings.targets, new Set(drop.dropped)), droppedPieces });
    }
    const counts = await countPieces(model, result.masks, counted);
    ctx.throwIfFailed();
    const summaries = moeLayerIndices(spec).map((l) => layerSummary(l, allocation, drops.get(l) ?? { dropped: [], criterionValues: null }));
    const report = pruneReport(settings, calibrationInfo(calibration, result.stats, settings.mode), summaries, counts, (performance.now() - started) / 1000);
    const weightsOf = async (l: number, key: MatrixKey) => (await result.masks.readLayer(l))?.weights[key] ?? null;
    const dropped = new Map([...drops].map(([l, d]) => [l, d.dropped]));
    return new PipelineRun(model, result.masks, report, result.stats, dropped, weightsOf, () => {});
  } catch (error) {
    result.destroy();
    throw error;
  }
}
