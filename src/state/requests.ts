/**
 * The experiment (the share link's schema) -> the engine's requests, and the keys that tell whether a result still
 * matches the experiment: the same model (content hash) and the same settings give the same numbers, because the
 * pipeline is deterministic.
 */
import type { CalibrationRequest, EvaluateRequest, PruneRequest, Variant } from '../api/lab.ts';
import type { Experiment } from '../engine/experiment/schema.ts';
import { textRefOf } from '../engine/experiment/text-ref.ts';
import { formatPattern } from '../engine/experiment/schema.ts';

export function calibrationRequest(experiment: Experiment): CalibrationRequest {
  const { text, samples, seqLen, seed } = experiment.calibration;
  return { text: textRefOf(text), samples, seqLen, seed };
}

/** Model and calibration settings. */
export function calibrationKey(experiment: Experiment, modelHash: string | null): string {
  const c = experiment.calibration;
  const text = c.text.kind === 'pasted' ? `pasted:${c.text.hash}` : c.text.id;
  return `${modelHash ?? '-'}|${text}|${c.samples}|${c.seqLen}|${c.seed}|${c.mode}`;
}

/** Calibration key + every pruning setting. */
export function pruneKey(experiment: Experiment, modelHash: string | null): string {
  const p = experiment.prune;
  return `${calibrationKey(experiment, modelHash)}|${p.method}|${p.sparsity}|${formatPattern(p.pattern)}|${p.group}|${p.allocation}|${p.expertsDrop}|${p.expertCriterion}|${p.targets.join(',')}${p.method === 'sparsegpt' ? `|${p.sparseGpt.blockSize}|${p.sparseGpt.damp}` : ''}`;
}

export function evaluateRequest(experiment: Experiment, variants: Variant[], byGenre: boolean): EvaluateRequest {
  const { text, ctx, maxTokens } = experiment.evaluation;
  return { text: textRefOf(text), ctx, maxTokens, byGenre, variants };
}

/** What an evaluation's numbers depend on: the evaluation settings, and the masks when the pruned model is measured. */
export function evaluateKey(experiment: Experiment, modelHash: string | null, masksKey: string | null, byGenre: boolean): string {
  const e = experiment.evaluation;
  const text = e.text.kind === 'pasted' ? `pasted:${e.text.hash}` : e.text.id;
  return `${modelHash ?? '-'}|${text}|${e.ctx}|${e.maxTokens}|${byGenre ? 'genres' : 'whole'}|${masksKey ?? 'dense'}`;
}

/** The pruning request of the experiment (its calibration included: the engine reuses matching statistics). */
export function pruneRequest(experiment: Experiment): PruneRequest {
  const p = experiment.prune;
  return {
    calibration: { ...calibrationRequest(experiment), mode: experiment.calibration.mode },
    method: p.method,
    sparsity: p.sparsity,
    pattern: p.pattern,
    group: p.group,
    allocation: p.allocation,
    expertsDrop: p.expertsDrop,
    expertCriterion: p.expertCriterion,
    targets: [...p.targets],
    ...(p.method === 'sparsegpt' ? { sparseGpt: { ...p.sparseGpt } } : {}),
  };
}
