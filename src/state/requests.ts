/**
 * The page's freshness keys: whether a result still matches the experiment. The same model (content hash) and the
 * same request give the same numbers, because the pipeline is deterministic, so each key is the canonical form of
 * the request the action sends (freshnessKey, src/api/experiment-requests.ts) with the model's hash, and for
 * results measured under masks, the key of those masks.
 */
import type { Variant } from '../api/lab.ts';
import type { Experiment } from '../engine/experiment/schema.ts';
import { evaluateRequest, freshnessKey, pruneCalibration, pruneRequest, recoverSettings } from '../api/experiment-requests.ts';
import { contextLimit } from '../engine/model/spec.ts';
import { quantizeRequest } from '../api/quantize.ts';
import type { LabState } from './store.ts';

export { calibrationRequest, evaluateRequest, pruneRequest } from '../api/experiment-requests.ts';

/** Model and calibration settings (the mode included: it says how pruning measures them). */
export function calibrationKey(experiment: Experiment, modelHash: string | null): string {
  return freshnessKey({ model: modelHash, calibration: pruneCalibration(experiment) });
}

/** Model and the whole pruning request (its calibration included). */
export function pruneKey(experiment: Experiment, modelHash: string | null): string {
  return freshnessKey({ model: modelHash, prune: pruneRequest(experiment) });
}

/** The variants the page evaluates: the pruned model too while masks are in force. */
export function evaluatedVariants(masksKey: string | null): Variant[] {
  return masksKey ? ['dense', 'pruned'] : ['dense'];
}

/** What an evaluation's numbers depend on: the model, the evaluation request, and the masks when the pruned model is measured. */
export function evaluateKey(experiment: Experiment, modelHash: string | null, masksKey: string | null, byGenre: boolean): string {
  return freshnessKey({ model: modelHash, evaluate: evaluateRequest(experiment, evaluatedVariants(masksKey), byGenre), masks: masksKey });
}

/** What a quantization's numbers depend on: the model, the masks it was quantized under, and the quantization request. */
export function quantizeKey(experiment: Experiment, modelHash: string | null, masksKey: string | null): string {
  return freshnessKey({ model: modelHash, masks: masksKey, quantize: quantizeRequest(experiment) });
}

/** What a Recover run's report depends on: the model, the masks in force and the Recover settings. */
export function recoverKeyOf(state: LabState): string {
  const { experiment, masksKey, model } = state;
  return freshnessKey({ model: model?.contentHash ?? null, masks: masksKey, recover: model ? recoverSettings(experiment, contextLimit(model.spec)) : null });
}
