/**
 * The lab service's computations on token ids, for the command line (`moe-lab ppl`, `logits`, `calibrate`,
 * `prune`): the same session (one upload of the weights, the masks in force) and the same GPU functions as the
 * page's text-based requests, taking what a script has instead of a page text — token windows, a masks file, a
 * statistics file — and writing the pruned folder through a writer instead of offering downloads. The engine's
 * own errors (ModelFileError, PruneRequestError, GpuError) pass through unchanged for the CLI to report.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { CalibrationModeName, GenerateRequest, GenerateResult } from '../api/lab.ts';
import type { CalibrationStats } from '../engine/calibration/stats.ts';
import { writePrunedExport, type PruneReportFile } from '../engine/export/pruned-export.ts';
import type { MaskSet } from '../engine/model/mask-set.ts';
import type { PipelineSettings } from '../engine/prune/pipeline-settings.ts';
import type { PruneReport } from '../engine/prune/report.ts';
import { calibrateOnGpu } from '../gpu/calibration/calibrate.ts';
import type { FidelityResult } from '../engine/eval/fidelity.ts';
import type { PerplexityResult } from '../engine/eval/perplexity.ts';
import { compareStreams } from '../gpu/eval/fidelity.ts';
import { evaluatePerplexity, type PerplexityReport } from '../gpu/eval/perplexity.ts';
import { GpuForward } from '../gpu/model/forward.ts';
import { uploadMasks } from '../gpu/model/gpu-mask-set.ts';
import { prunePipeline, type PipelineCalibration } from '../gpu/prune/pipeline.ts';
import { progressStep, type LabSession } from './lab-session.ts';
import { generateWithMasks } from './evaluate.ts';
import { summarizeReport } from './prune.ts';

/** Perplexity of a token stream in windows of `ctx` every `stride` tokens (src/engine/eval/windows.ts). */
export interface IdsPerplexityRequest {
  ids: number[];
  ctx: number;
  stride: number;
  maxTokens?: number;
  batch?: number;
  /** Masks to apply for this call only (a masks file), or null: the dense model. */
  masks: MaskSet | null;
}

export async function idsPerplexity(session: LabSession, request: IdsPerplexityRequest, options: OperationOptions): Promise<PerplexityReport> {
  const model = await session.model(options);
  const masks = request.masks ? await uploadMasks(model, request.masks) : null;
  try {
    const { ids, ctx, stride, maxTokens, batch } = request;
    return await evaluatePerplexity(model, ids, {
      ctx,
      stride,
      maxTokens,
      batch,
      masks,
      signal: options.signal,
      onProgress: (p) => options.onProgress?.(progressStep('compute', 'Perplexity', p.done, p.total)),
    });
  } finally {
    masks?.destroy();
  }
}

/** `ppl --compare`: the pruned model's perplexity, the dense model's on the same positions, and the pruned model's fidelity. */
export interface IdsComparisonReport extends PerplexityReport {
  dense: PerplexityResult;
  fidelity: FidelityResult;
}

/** Dense vs `request.masks` on the windows idsPerplexity scores (src/gpu/eval/fidelity.ts). */
export async function idsComparison(
  session: LabSession,
  request: IdsPerplexityRequest & { masks: MaskSet },
  options: OperationOptions,
): Promise<IdsComparisonReport> {
  const model = await session.model(options);
  const masks = await uploadMasks(model, request.masks);
  try {
    const { ids, ctx, stride, maxTokens, batch } = request;
    const { streams } = await compareStreams(model, [ids.slice(0, maxTokens ?? ids.length)], {
      ctx,
      stride,
      batch,
      masks,
      signal: options.signal,
      onProgress: (p) => options.onProgress?.(progressStep('compute', 'Dense and pruned', p.done, p.total)),
    });
    const result = streams[0];
    if (!result) throw new RangeError('no token was scored (give at least two tokens)');
    return { ...result.pruned, windows: result.windows, ctx, stride, dense: result.dense, fidelity: result.fidelity };
  } finally {
    masks.destroy();
  }
}

/**
 * Logits [T, V] and the router logits [T, E] of every MoE layer (null elsewhere) of one sequence, dense or under
 * `maskSet` (a masks file, steering). Router logits are the router's own, before dropped experts are set to -inf.
 */
export async function idsLogits(
  session: LabSession,
  ids: number[],
  maskSet: MaskSet | null,
  options: OperationOptions,
): Promise<{ logits: Float32Array; routerLogits: (Float32Array | null)[] }> {
  const model = await session.model(options);
  const masks = maskSet ? await uploadMasks(model, maskSet) : null;
  const forward = new GpuForward(model, 1, ids.length);
  try {
    const result = await forward.run({ ids, logits: true, masks, taps: ['routerLogits'], signal: options.signal });
    return { logits: result.logits!, routerLogits: result.layers.map((taps) => taps.routerLogits ?? null) };
  } finally {
    forward.destroy();
    masks?.destroy();
  }
}

/** Generation from a text prompt under `maskSet` (a masks file, steering; null: dense), as the page's generate. */
export async function generationWithMaskSet(
  session: LabSession,
  request: GenerateRequest,
  maskSet: MaskSet | null,
  options: OperationOptions,
): Promise<GenerateResult> {
  const model = await session.model(options);
  const masks = maskSet ? await uploadMasks(model, maskSet) : null;
  try {
    return await generateWithMasks(session, request, masks, options);
  } finally {
    masks?.destroy();
  }
}

/** Calibration statistics of explicit windows (dense, or `mode` as calibrateOnGpu measures it), not kept in the session. */
export async function windowsCalibration(
  session: LabSession,
  windows: number[][],
  settings: { mode: CalibrationModeName; tokensPerBatch?: number },
  options: OperationOptions,
): Promise<CalibrationStats> {
  const model = await session.model(options);
  const { stats } = await calibrateOnGpu(model, windows, {
    mode: settings.mode,
    tokensPerBatch: settings.tokensPerBatch,
    signal: options.signal,
    onProgress: (p) => options.onProgress?.(progressStep('compute', `Calibrating: batch ${p.done} of ${p.total}`, p.done, p.total)),
  });
  return stats;
}

/**
 * Runs the pruning pipeline with explicit settings and calibration (windows, statistics) and puts its masks in
 * force, as the page's prune does; returns its report and the statistics it scored with (sequential mode: as measured).
 */
export async function pruneWithSettings(
  session: LabSession,
  settings: PipelineSettings,
  calibration: PipelineCalibration,
  options: OperationOptions,
): Promise<{ stats: CalibrationStats | null; report: PruneReport }> {
  const model = await session.model(options);
  const run = await prunePipeline(model, settings, calibration, {
    signal: options.signal,
    onProgress: (p) => options.onProgress?.(progressStep('compute', p.message, p.done, p.total)),
  });
  session.setMasks({
    gpu: run.masks,
    request: null,
    summary: summarizeReport(run.report, null),
    report: run.report,
    readMaskSet: () => run.readMaskSet(),
    updatedWeights: (layer, key) => run.updatedWeights(layer, key),
    destroy: () => run.destroy(),
  });
  return { stats: run.stats, report: run.report };
}

/** The masks in force, on the CPU. */
export async function readMasksInForce(session: LabSession): Promise<MaskSet> {
  if (!session.masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first.' });
  return session.masks.readMaskSet();
}

/**
 * Writes the pruning in force as the pruning export (src/engine/export/pruned-export.ts): the Hugging Face folder
 * unless `model` is false, masks.safetensors and prune-report.json, each file through `write`.
 */
export async function writePruned(
  session: LabSession,
  name: string,
  write: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  what: { model: boolean },
  options: OperationOptions,
): Promise<PruneReportFile> {
  const masks = session.masks;
  if (!masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then export.' });
  const { checkpoint, summary } = session.loaded;
  return writePrunedExport(
    { checkpoint, masks: await masks.readMaskSet(), updatedWeights: (layer, key) => masks.updatedWeights(layer, key) },
    masks.report,
    { name, architecture: summary.spec.architecture, contentHash: summary.contentHash },
    write,
    what,
    options.signal,
  );
}
