/**
 * Calibration inside the worker: N windows of L tokens drawn from a text with a seed (the sampling rule of
 * src/engine/calibration/sampling.ts, the same as `moe-lab calibrate --text`), dense statistics on the GPU
 * (src/gpu/calibration/calibrate.ts), kept in the session for pruning and offered as the contract's safetensors
 * file. Sequential calibration interleaves pruning, so it runs as part of pruning, not here.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { CalibrationLayerSummary, CalibrationRequest, CalibrationSummary, ExportFile } from '../api/lab.ts';
import { layerCriteria, lowCoverageExperts, superExperts } from '../engine/calibration/expert-criteria.ts';
import { loadSummary } from '../engine/calibration/router-health.ts';
import { sampleWindows, type CalibrationSetOptions } from '../engine/calibration/sampling.ts';
import { statsToSafetensors, type CalibrationStats, type LayerStats } from '../engine/calibration/stats.ts';
import { freshnessKey } from '../api/experiment-requests.ts';
import { textKey } from '../engine/experiment/text-ref.ts';
import { calibrateOnGpu } from '../gpu/calibration/calibrate.ts';
import { passStep, progressStep, type LabSession } from './lab-session.ts';
import type { TextLibrary } from './texts.ts';

/**
 * The key statistics are stored under: the same request on the same model gives the same statistics. They are
 * always dense statistics, whatever mode a pruning request asks (sequential measuring happens inside pruning), so
 * the mode is fixed to dense here and a Calibrate followed by a Prune with equal settings reuses them.
 */
export function statisticsKey(request: CalibrationRequest): string {
  return freshnessKey({ ...request, mode: 'dense' });
}

/**
 * The windows a calibration draws from a token stream (its text tokenized without special tokens): N windows of L
 * tokens at seeded random starts (src/engine/calibration/sampling.ts), L at most the model's context. The one rule
 * for the page's requests and `moe-lab calibrate/prune --text`; RangeError with a plain sentence otherwise.
 */
export function drawCalibrationWindows(stream: ArrayLike<number>, request: CalibrationSetOptions, context: number): number[][] {
  if (request.seqLen > context) throw new RangeError(`windows of ${request.seqLen} tokens are longer than the model's context (${context})`);
  return sampleWindows(stream, request);
}

/** The windows `request` draws from its text. */
export async function calibrationWindows(
  session: LabSession,
  texts: TextLibrary,
  request: CalibrationRequest,
): Promise<{ windows: number[][]; textTokens: number }> {
  const tokenizer = session.tokenizer('calibration');
  const stream = await texts.stream(tokenizer, request.text, false);
  try {
    return { windows: drawCalibrationWindows(stream, request, session.contextLimit), textTokens: stream.length };
  } catch (error) {
    throw new EngineError({ kind: 'bad-request', message: `Calibration: ${(error as Error).message}.` });
  }
}

/** One MoE layer's summary: load, coverage, super experts and the expert criteria side by side. */
export function layerSummary(layer: number, s: LayerStats, tokens: number): CalibrationLayerSummary {
  return {
    layer,
    expertTokens: s.expertTokens,
    expertGateSum: s.expertGateSum,
    ...loadSummary(s),
    lowCoverageExperts: lowCoverageExperts(s),
    expertOutputAbsMax: Array.from(s.expertOutputAbsMax),
    superExperts: superExperts(s),
    criteria: layerCriteria(s, tokens),
  };
}

export function summarizeStatistics(stats: CalibrationStats, request: CalibrationRequest, textTokens: number, seconds: number): CalibrationSummary {
  return {
    tokens: stats.tokens,
    windows: request.samples,
    seqLen: request.seqLen,
    textTokens,
    mode: stats.mode,
    seconds,
    layers: stats.layers.flatMap((s, layer) => {
      if (!s) return [];
      return [layerSummary(layer, s, stats.tokens)];
    }),
  };
}

/** Dense calibration statistics of `request`, kept in the session. */
export async function runCalibration(
  session: LabSession,
  texts: TextLibrary,
  request: CalibrationRequest,
  options: OperationOptions,
): Promise<CalibrationSummary> {
  const started = performance.now();
  const { onProgress, signal } = options;
  onProgress?.(progressStep('compute', 'Tokenizing the calibration text', 0, 1));
  const { windows, textTokens } = await calibrationWindows(session, texts, request);
  const model = await session.model(options);
  const { stats } = await calibrateOnGpu(model, windows, {
    mode: 'dense',
    signal,
    // Per batch, or per layer when the model streams (the layer-major pass).
    onProgress: (p) =>
      onProgress?.(
        p.layer === undefined
          ? progressStep('compute', `Calibrating: batch ${p.done} of ${p.total}`, p.done, p.total)
          : passStep('Calibrating', p.done, p.total, p.layer, model.spec.numLayers),
      ),
  });
  stats.metadata = {
    model_hash: session.loaded.summary.contentHash,
    source: `text:${textKey(request.text)}`,
    samples: String(request.samples),
    seq_len: String(request.seqLen),
    seed: String(request.seed),
    text_tokens: String(textTokens),
  };
  session.statistics = { stats, key: statisticsKey(request) };
  return summarizeStatistics(stats, request, textTokens, (performance.now() - started) / 1000);
}

/** The statistics as the contract's safetensors file. */
export function statisticsFile(session: LabSession): ExportFile {
  if (!session.statistics) throw new EngineError({ kind: 'bad-request', message: 'There are no calibration statistics yet: calibrate first.' });
  return { path: 'calibration-stats.safetensors', bytes: statsToSafetensors(session.statistics.stats) };
}
