/**
 * The experiment (the share link's schema, src/engine/experiment/schema.ts) -> the Engine's requests, and the
 * freshness key of a request. One translation for every caller: the page's actions build their requests here, and
 * `moe-lab run --experiment LINK` replays a link with the same requests, so both get the same masks and numbers
 * (the pipeline is deterministic).
 *
 * Freshness: a result is current when it was computed from the same request on the same model. The key is the
 * request itself in a canonical form (JSON with sorted object keys), so every field a request carries takes part
 * in the key without being listed a second time: a field added to a request can never be forgotten by its key.
 */
import type { CalibrationModeName, CalibrationRequest, EvaluateRequest, PruneRequest, Variant } from './lab.ts';
import type { RecoverRequest } from './recover.ts';
import type { Experiment } from '../engine/experiment/schema.ts';
import { sectionDefaults } from '../engine/experiment/vocabulary.ts';
import { textRefOf } from '../engine/experiment/text-ref.ts';

/**
 * A stable string of `value`: JSON with object keys sorted at every depth (arrays keep their order, which means
 * something); `undefined` members are left out as JSON does. Equal values give equal keys, and any change of a
 * leaf changes the key.
 */
export function freshnessKey(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}

/** The dense calibration of the experiment (what the Calibrate panel runs). */
export function calibrationRequest(experiment: Experiment): CalibrationRequest {
  const { text, samples, seqLen, seed } = experiment.calibration;
  return { text: textRefOf(text), samples, seqLen, seed };
}

/** The calibration settings of a pruning run: the dense calibration and the mode pruning measures it in. */
export function pruneCalibration(experiment: Experiment): CalibrationRequest & { mode: CalibrationModeName } {
  return { ...calibrationRequest(experiment), mode: experiment.calibration.mode };
}

/** The pruning request of the experiment (its calibration included: the engine reuses matching statistics). */
export function pruneRequest(experiment: Experiment): PruneRequest {
  // Every pruning setting of the experiment, as it is (a new setting travels without a change here).
  const { sparseGpt, ...p } = structuredClone(experiment.prune);
  return {
    calibration: pruneCalibration(experiment),
    ...p,
    // SparseGPT's knobs only where they act (as the share link carries them), so other requests and keys stay as they were.
    ...(p.method === 'sparsegpt' ? { sparseGpt } : {}),
  };
}

/** The evaluation of the experiment on `variants`, per genre or on the whole text. */
export function evaluateRequest(experiment: Experiment, variants: Variant[], byGenre: boolean): EvaluateRequest {
  const { text, ctx, maxTokens } = experiment.evaluation;
  return { text: textRefOf(text), ctx, maxTokens, byGenre, variants };
}

/**
 * The variants and grouping "Reproduce this experiment" evaluates: the dense and the pruned model, per genre
 * (the page's runExperiment and `moe-lab run` both read this).
 */
export const REPRODUCE_EVALUATION = { variants: ['dense', 'pruned'] as Variant[], byGenre: true } as const;

/**
 * The benchmark "Reproduce this experiment" and `moe-lab run` score after the perplexities: the experiment's
 * Benchmarks selection when it differs from the defaults, that is when the share link carries `bench` or
 * `benchlimit` (links write them only then); null otherwise, so a link made without the Benchmarks step replays
 * as before. The dense and the pruned model score the same items, each item kept (the flipped ones are counted).
 */
export function reproduceBenchmark(experiment: Experiment): { tasks: Experiment['benchmark']['tasks']; limit: number; variants: Variant[] } | null {
  if (freshnessKey(experiment.benchmark) === freshnessKey(sectionDefaults('benchmark'))) return null;
  const { tasks, limit } = experiment.benchmark;
  return { tasks, limit, variants: [...REPRODUCE_EVALUATION.variants] };
}

/**
 * The Recover step's request for the experiment, up to step `untilStep` (over all layers). `context` is the model's
 * longest window: training windows take L + 1 tokens, so L is clamped below it. The training text defaults to the
 * calibration text.
 */
export function recoverRequest(experiment: Experiment, context: number, untilStep: number, restart: boolean): RecoverRequest {
  const r = experiment.recover;
  return {
    training: { text: textRefOf(r.text ?? experiment.calibration.text), samples: r.samples, seqLen: Math.min(r.seqLen, context - 1), seed: r.seed },
    steps: r.steps,
    lr: r.lr,
    batch: r.batch,
    untilStep,
    evaluation: { text: textRefOf(experiment.evaluation.text), ctx: experiment.evaluation.ctx, maxTokens: experiment.evaluation.maxTokens },
    restart,
  };
}

/** What a Recover run's results depend on: its request without the chunking fields (untilStep, restart). */
export function recoverSettings(experiment: Experiment, context: number): Omit<RecoverRequest, 'untilStep' | 'restart'> {
  const { untilStep: _u, restart: _r, ...settings } = recoverRequest(experiment, context, 0, false);
  return settings;
}
