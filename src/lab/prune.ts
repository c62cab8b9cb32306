/**
 * Pruning inside the worker, through the pruning pipeline (src/gpu/prune/pipeline.ts: expert dropping, OWL,
 * per-layer masks from the pruning core or SparseGPT, dense or sequential; masks equal the CPU reference pipeline).
 * The worker adds what the page needs around it: the calibration set drawn from a text, dense statistics reused
 * across runs when the calibration settings match (and shown in the Calibrate panel when computed here), the masks
 * kept in force for every later forward, sweep points on temporary masks, and the report in the page's shape.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { CalibrationSummary, PruneRequest, PruneSummary, SparsityCount, SweepPointRequest, SweepPointResult } from '../api/lab.ts';
import type { CalibrationStats } from '../engine/calibration/stats.ts';
import { textKey } from '../engine/experiment/text-ref.ts';
import { needsCalibration, pipelineSettings, type PipelineSettings } from '../engine/prune/pipeline-settings.ts';
import type { PruneReport } from '../engine/prune/report.ts';
import { PruneRequestError } from '../engine/prune/settings.ts';
import { compareStreams } from '../gpu/eval/fidelity.ts';
import { prunePipeline, type PipelineRun } from '../gpu/prune/pipeline.ts';
import type { GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import type { QuantBits } from '../engine/quantize/quantized-matrix.ts';
import { QUANTIZE_DEFAULTS } from '../engine/quantize/settings.ts';
import { benchmarksWithMasks } from './benchmarks.ts';
import { quantizeAside, quantizeEngineError } from './quantize.ts';
import { checkQuantizableMasks } from './quantize-page.ts';
import { calibrationWindows, runCalibration, statisticsKey } from './calibration.ts';
import { progressStep, type LabSession } from './lab-session.ts';
import type { TextLibrary } from './texts.ts';

/** The pipeline's settings for a page request (the link's one seed seeds calibration sampling and random pruning). */
export function pipelineSettingsOf(request: PruneRequest): PipelineSettings {
  // The request's pruning fields are the pipeline's (both are ExperimentPrune); an absent sparseGpt means the defaults.
  const { calibration, sparseGpt, ...prune } = structuredClone(request);
  return pipelineSettings({ ...prune, ...(sparseGpt ? { sparseGpt } : {}), seed: calibration.seed, mode: calibration.mode });
}

/** Dense statistics serve dense-mode scoring, expert dropping and OWL's outlier ratios in either mode. */
function wantsDenseStatistics(settings: PipelineSettings): boolean {
  if (!needsCalibration(settings) && settings.allocation !== 'owl') return false;
  return settings.mode === 'dense' || settings.allocation === 'owl' || settings.expertsDrop > 0;
}

/** Runs the pipeline for `request`; nothing is kept in the session here. */
export async function pipeline(
  session: LabSession,
  texts: TextLibrary,
  request: PruneRequest,
  options: OperationOptions,
): Promise<{ run: PipelineRun; calibration: CalibrationSummary | null }> {
  const settings = pipelineSettingsOf(request);
  const { onProgress, signal } = options;
  let calibration: CalibrationSummary | null = null;
  let stats: CalibrationStats | undefined;
  // SparseGPT measures its own Hessians, so it always takes the windows; dense statistics are reused where they apply.
  if (wantsDenseStatistics(settings) && settings.method !== 'sparsegpt') {
    if (session.statistics?.key !== statisticsKey(request.calibration)) calibration = await runCalibration(session, texts, request.calibration, options);
    stats = session.statistics!.stats;
  }
  const needsWindows = settings.method === 'sparsegpt' || (settings.mode === 'sequential' && needsCalibration(settings));
  const windows = needsWindows ? (await calibrationWindows(session, texts, request.calibration)).windows : undefined;
  const model = await session.model(options);
  const c = request.calibration;
  try {
    const run = await prunePipeline(
      model,
      settings,
      { windows, stats, info: { source: textKey(c.text), samples: c.samples, seqLen: c.seqLen, seed: c.seed } },
      { signal, onProgress: (p) => onProgress?.(progressStep('compute', p.message, p.done, p.total)) },
    );
    return { run, calibration };
  } catch (error) {
    if (error instanceof PruneRequestError) throw new EngineError({ kind: 'bad-request', message: `Pruning: ${error.message}.` });
    throw error;
  }
}

const count = (name: string, c: { weights: number; pruned: number }): SparsityCount => ({ name, weights: c.weights, pruned: c.pruned });

/** The pipeline's report in the page's shape: per layer, matrix kind and routed expert. */
export function summarizeReport(report: PruneReport, calibration: CalibrationSummary | null): PruneSummary {
  const { achieved } = report;
  return {
    method: report.method,
    calibration,
    overall: count('all', achieved.overall),
    seconds: report.seconds,
    ...(report.neurons ? { neurons: { ffn: report.neurons.ffn, keptFfn: report.neurons.keptFfn } } : {}),
    ...(report.accounting ? { accounting: report.accounting } : {}),
    layers: achieved.layers.map((layer) => {
      const kinds = new Map<string, SparsityCount>();
      for (const m of achieved.matrices.filter((x) => x.layer === layer.layer)) {
        const name = m.expert === null ? `attn.${m.projection}` : m.expert === 'shared' ? `shared.${m.projection}` : `experts.${m.projection}`;
        const kind = kinds.get(name) ?? { name, weights: 0, pruned: 0 };
        kind.weights += m.weights;
        kind.pruned += m.pruned;
        kinds.set(name, kind);
      }
      const experts = achieved.experts.filter((x) => x.layer === layer.layer).map((x) => count(`expert ${x.expert}`, x));
      return { layer: layer.layer, target: layer.target, matrices: [...kinds.values()], experts, droppedExperts: layer.droppedExperts };
    }),
  };
}

/** Prunes as `request` says and puts the masks in force. */
export async function runPrune(session: LabSession, texts: TextLibrary, request: PruneRequest, options: OperationOptions): Promise<PruneSummary> {
  const { run, calibration } = await pipeline(session, texts, request, options);
  const summary = summarizeReport(run.report, calibration);
  session.setMasks({
    gpu: run.masks,
    request,
    summary,
    report: run.report,
    readMaskSet: () => run.readMaskSet(),
    updatedWeights: (layer, key) => run.updatedWeights(layer, key),
    destroy: () => run.destroy(),
  });
  return summary;
}

/**
 * One sweep point: prune as asked into fresh masks (or, with `quantize`, round-to-nearest on the routed experts under
 * the masks in force, beside the quantization in force), measure the perplexity and fidelity to the dense model (and
 * benchmark accuracy when asked), free what the point made.
 */
export async function runSweepPoint(session: LabSession, texts: TextLibrary, request: SweepPointRequest, options: OperationOptions): Promise<SweepPointResult> {
  const tokenizer = session.tokenizer('perplexity on a text');
  if (Boolean(request.prune) === Boolean(request.quantize))
    throw new EngineError({ kind: 'bad-request', message: 'A sweep point takes either a pruning (prune) or a quantization (quantize), not both or neither.' });
  const made = request.prune
    ? await prunedPoint(session, texts, request.prune, options.signal)
    : await quantizedPoint(session, request.quantize!.bits, options);
  try {
    const model = await session.model(options);
    const { ctx, maxTokens, text } = request.evaluate;
    const ids = await texts.firstTokens(tokenizer, text, maxTokens, true);
    // Dense and pruned on the same windows: the pruned perplexity evaluatePerplexity gives, plus fidelity.
    const { streams } = await compareStreams(model, [ids], { ctx: Math.min(ctx, session.contextLimit), masks: made.masks, signal: options.signal });
    const compared = streams[0];
    if (!compared) throw new EngineError({ kind: 'bad-request', message: 'The text is too short to evaluate: no window has two tokens.' });
    const { tokens, nll, ppl } = compared.pruned;
    // BLiMP accuracy as a sweep metric: the same items under this point's masks.
    const scored = request.benchmark
      ? (await benchmarksWithMasks(session, { ...request.benchmark, variants: ['pruned'], perItem: false }, [made.masks], { signal: options.signal }))
          .results[0]
      : null;
    const { accounting } = made;
    return {
      ...made.point,
      perplexity: { tokens, nll, ppl },
      fidelity: compared.fidelity,
      ...(scored ? { benchmark: { accuracy: scored.accuracy, items: scored.items } } : {}),
      ...(accounting ? { diskBytes: accounting } : {}),
    };
  } finally {
    made.destroy();
  }
}

/** What a sweep point measures on: its masks (or quantized weights), its identity, its bytes on disk, how to free it. */
interface PointModel {
  masks: GpuMaskSet;
  point: Pick<SweepPointResult, 'method' | 'sparsity' | 'achieved' | 'bits'>;
  accounting: { dense: number; pruned: number } | null;
  destroy: () => void;
}

async function prunedPoint(session: LabSession, texts: TextLibrary, prune: PruneRequest, signal?: AbortSignal): Promise<PointModel> {
  const { run } = await pipeline(session, texts, prune, { signal });
  const { accounting } = run.report;
  return {
    masks: run.masks,
    point: { method: prune.method, sparsity: prune.sparsity, achieved: run.report.achieved.overall.sparsity },
    accounting: accounting ? { dense: accounting.dense.diskBytes, pruned: accounting.pruned.diskBytes } : null,
    destroy: () => run.destroy(),
  };
}

/** Round-to-nearest at `bits` (the quantize defaults otherwise) under the masks in force. */
async function quantizedPoint(session: LabSession, bits: QuantBits, options: OperationOptions): Promise<PointModel> {
  checkQuantizableMasks(session);
  const masks = session.masks ? { masks: await session.masks.readMaskSet(), source: 'the pruning in force' } : null;
  const settings = { ...QUANTIZE_DEFAULTS, method: 'rtn' as const, bits, avgBits: null };
  let run;
  try {
    run = await quantizeAside(session, settings, masks, { signal: options.signal });
  } catch (error) {
    throw quantizeEngineError(error);
  }
  const { accounting } = run.report;
  const achieved = session.masks?.summary.overall;
  return {
    masks: run.gpu,
    point: { method: 'rtn', bits, sparsity: 0, achieved: achieved && achieved.weights ? achieved.pruned / achieved.weights : 0 },
    accounting: { dense: accounting.dense.diskBytes, pruned: accounting.quantized.diskBytes },
    destroy: () => {
      run.gpu.destroy();
      run.masks?.destroy();
    },
  };
}
