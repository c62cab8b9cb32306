/**
 * What a whole pruning run is asked to do (`moe-lab prune`, docs/pruning.md): the scoring method and its pattern,
 * comparison group and target sparsity (settings.ts, the core), plus what the pipeline adds on top — which matrices
 * (targets), expert dropping, the layer-wise allocation (uniform or OWL), the calibration mode and SparseGPT's
 * knobs. One definition shared by the CPU reference pipeline, the GPU pipeline, the CLI and the page.
 */
import {
  ALLOCATIONS,
  CALIBRATION_MODES,
  defaultPrune,
  EXPERT_CRITERIA,
  PRUNE_METHODS,
  PRUNE_TARGETS,
  type Allocation,
  type CalibrationMode,
  type ExperimentPrune,
  type ExpertCriterion,
  type PruneMethod,
  type PruneTarget,
} from '../experiment/schema.ts';
import { SETTINGS } from '../experiment/vocabulary.ts';
import type { GroupedTopk, MoeModelSpec } from '../model/spec.ts';
import { checkSparseGptSettings } from '../sparsegpt/settings.ts';
import { checkNeuronSettings } from './neurons.ts';
import { checkSettings, PruneRequestError, usesColumnFactors, type PruneSettings } from './settings.ts';

// The value sets, types and defaults are the settings vocabulary's (src/engine/experiment/vocabulary.ts).
/** The core's mask methods (settings.ts), plus SparseGPT (masks and updated weights, src/gpu/sparsegpt). */
export type PipelineMethod = PruneMethod;
export const PIPELINE_METHODS = PRUNE_METHODS;
/**
 * Routed expert FFNs (default), attention projections q/k/v/o (multi-head latent attention: q_a, q_b or q, kv_a, kv_b,
 * o), the shared expert (Qwen2-MoE). Never routers or norms.
 */
export { PRUNE_TARGETS, type PruneTarget };
/**
 * Expert-level pruning criteria, lowest dropped first: routing frequency (tokens routed to the expert), mean gate
 * weight (sum of g over the calibration tokens / T: the same order as the sum), REAP saliency (Lasby et al. 2025:
 * mean over the expert's routed tokens of g x ||expert output||_2).
 */
export { EXPERT_CRITERIA, type ExpertCriterion };
/** uniform: every layer at the target; owl: Yin et al. 2024's outlier-weighed layer sparsities (owl.ts). */
export type { Allocation };

export interface OwlSettings {
  /** lambda: the layer sparsities span at most target +- lambda (the paper's 0.08). */
  lambda: number;
  /** M: a score is an outlier above M times its layer's mean score (the paper's 5). */
  outlierFactor: number;
}

export const DEFAULT_OWL: OwlSettings = { lambda: SETTINGS.owlLambda.default, outlierFactor: SETTINGS.owlM.default };

/**
 * The experiment's pruning settings (ExperimentPrune: method, pattern, group, sparsity, targets, expert dropping,
 * allocation, SparseGPT's knobs; from the settings vocabulary), plus what the pipeline adds: the seed of the random
 * method, OWL's constants and how statistics are measured. With OWL, `sparsity` is the mean over layers; N:M fixes
 * it at 1 - N/M.
 */
export interface PipelineSettings extends ExperimentPrune {
  /** Seed of the random method (and recorded in the report; calibration sets have their own seed). */
  seed: number;
  owl: OwlSettings;
  /** dense: statistics of the dense model; sequential: layer l measured through layers < l already pruned. */
  mode: CalibrationMode;
}

/** The v1 defaults of the share link (schema.ts), with the pipeline's own (seed, OWL, mode) from the vocabulary. */
export const DEFAULT_PIPELINE_SETTINGS: PipelineSettings = (() => {
  const { allocation, expertCriterion, expertsDrop, group, method, pattern, protect, sparseGpt, sparsity, structure, targets } = defaultPrune();
  return {
    method,
    pattern,
    group,
    structure,
    sparsity,
    seed: SETTINGS.seed.default,
    targets,
    expertsDrop,
    expertCriterion,
    protect,
    allocation,
    owl: DEFAULT_OWL,
    mode: SETTINGS.mode.default,
    sparseGpt,
  };
})();

/** Settings with every field present: `partial` over the defaults. */
export function pipelineSettings(partial: Partial<PipelineSettings>): PipelineSettings {
  return { ...DEFAULT_PIPELINE_SETTINGS, ...partial, owl: { ...DEFAULT_OWL, ...partial.owl } };
}

/** True when the settings prune weights inside matrices (not only drop experts). */
export function prunesWeights(settings: PipelineSettings): boolean {
  return settings.pattern.kind === 'n:m' || settings.sparsity > 0;
}

/** Column statistics are needed to score (wanda, moe-pruner) or SparseGPT's calibration runs anyway. */
export function scoresNeedStatistics(method: PipelineMethod): boolean {
  return method === 'sparsegpt' || usesColumnFactors(method);
}

/** Whether the run needs calibration statistics at all (magnitude and random alone need none). */
export function needsCalibration(settings: PipelineSettings): boolean {
  // Protecting super experts needs their statistics (max |output|) whatever the method scores with.
  return settings.expertsDrop > 0 || settings.protect === 'super-experts' || (prunesWeights(settings) && scoresNeedStatistics(settings.method));
}

/** The core's settings (settings.ts) for a layer pruned at `sparsity`. SparseGPT is not a core method. */
export function coreSettings(settings: PipelineSettings, sparsity: number): PruneSettings {
  if (settings.method === 'sparsegpt') throw new PruneRequestError('sparsegpt is not a mask-only method; it runs through src/gpu/sparsegpt');
  return { method: settings.method, pattern: settings.pattern, group: settings.group, sparsity, seed: settings.seed };
}

/** Throws PruneRequestError naming the value unless `settings` can run on a model of `spec`. */
export function checkPipelineSettings(settings: PipelineSettings, spec: MoeModelSpec): void {
  const { method, targets, expertsDrop, allocation, owl } = settings;
  if (!PIPELINE_METHODS.includes(method))
    throw new PruneRequestError(`unknown pruning method ${JSON.stringify(method)} (one of ${PIPELINE_METHODS.join(', ')})`);
  checkSettings({ ...settings, method: method === 'sparsegpt' ? 'magnitude' : method });
  if (targets.length === 0) throw new PruneRequestError(`no targets: choose at least one of ${PRUNE_TARGETS.join(', ')}`);
  for (const t of targets) {
    if (!PRUNE_TARGETS.includes(t)) throw new PruneRequestError(`unknown target ${JSON.stringify(t)} (one of ${PRUNE_TARGETS.join(', ')})`);
  }
  if (new Set(targets).size !== targets.length) throw new PruneRequestError(`targets ${targets.join(',')} list one twice`);
  if (targets.includes('shared') && !spec.sharedExpert) throw new PruneRequestError(`target 'shared': this ${spec.architecture} model has no shared expert`);
  if (!spec.moeLayers.some(Boolean)) throw new PruneRequestError('this model has no MoE layer to prune');
  if (!EXPERT_CRITERIA.includes(settings.expertCriterion)) {
    throw new PruneRequestError(`unknown expert criterion ${JSON.stringify(settings.expertCriterion)} (one of ${EXPERT_CRITERIA.join(', ')})`);
  }
  const { numExperts: E, topK: K } = spec;
  if (!Number.isInteger(expertsDrop) || expertsDrop < 0) throw new PruneRequestError(`experts to drop ${expertsDrop} is not a non-negative integer`);
  // Fewer than K experts left would leave routing slots empty: the model would no longer be a top-K MoE.
  if (expertsDrop > E - K)
    throw new PruneRequestError(`cannot drop ${expertsDrop} of ${E} experts per layer: at least top-k = ${K} must remain (r <= ${E - K})`);
  if (expertsDrop > 0 && spec.routing.kind === 'grouped-topk' && spec.routing.groups > 1) checkGroupedDrop(expertsDrop, spec.routing, E, K);
  if (settings.protect === 'super-experts' && method === 'sparsegpt')
    throw new PruneRequestError('protecting super experts is not available with sparsegpt yet (its layers are pruned inside its own calibration pass)');
  if (!ALLOCATIONS.includes(allocation)) throw new PruneRequestError(`unknown allocation ${JSON.stringify(allocation)} (one of ${ALLOCATIONS.join(', ')})`);
  if (allocation === 'owl') {
    if (settings.pattern.kind === 'n:m') throw new PruneRequestError('OWL allocates unstructured sparsity per layer; N:M fixes every layer at 1 - N/M');
    const L = SETTINGS.owlLambda;
    if (!(owl.lambda >= L.min && owl.lambda <= L.max)) throw new PruneRequestError(`OWL lambda ${owl.lambda} is outside ${L.min}..${L.max}`);
    if (!(owl.outlierFactor > 0 && Number.isFinite(owl.outlierFactor)))
      throw new PruneRequestError(`OWL outlier factor M = ${owl.outlierFactor} must be a positive number`);
  }
  if (!CALIBRATION_MODES.includes(settings.mode))
    throw new PruneRequestError(`unknown mode ${JSON.stringify(settings.mode)} (one of ${CALIBRATION_MODES.join(', ')})`);
  if (method === 'sparsegpt') checkSparseGpt(settings);
  if (settings.structure === 'neurons') checkNeuronSettings(settings, spec);
}

/**
 * Group-limited routing picks among groups of E / n_group consecutive experts, and the exported model regroups its
 * E - r experts the same way. Dropping r / n_group from every group keeps each group one index range of the same
 * experts, so the export routes as the lab does (docs/pruning.md). Each group must keep what its score needs (the sum
 * of its two best for top2-sum) and the topk_group kept groups at least top-k experts.
 */
function checkGroupedDrop(r: number, routing: GroupedTopk, E: number, K: number): void {
  const G = routing.groups;
  if (r % G) {
    throw new PruneRequestError(
      `cannot drop ${r} experts under group-limited routing (n_group ${G}): each of the ${G} groups of ${E / G} experts drops the same number, so drop a multiple of ${G}`,
    );
  }
  const left = (E - r) / G;
  const needed = routing.groupScore === 'top2-sum' ? 2 : 1;
  if (left < needed) throw new PruneRequestError(`cannot drop ${r} experts: each routing group would keep ${left}, its group score needs ${needed}`);
  if (routing.topkGroups * left < K) {
    throw new PruneRequestError(`cannot drop ${r} experts: the ${routing.topkGroups} chosen groups of ${left} experts would hold fewer than top-k = ${K}`);
  }
}

/** SparseGPT's scope (docs/sparsegpt.md): the routed experts, and the shared expert when asked; its own R x B comparison group. */
function checkSparseGpt(settings: PipelineSettings): void {
  checkSparseGptSettings({ sparsity: settings.sparsity, pattern: settings.pattern, ...settings.sparseGpt });
  if (settings.group !== 'row')
    throw new PruneRequestError(`sparsegpt chooses masks per block of R x B weights; group '${settings.group}' does not apply (use row)`);
  if (settings.targets.includes('attention'))
    throw new PruneRequestError("sparsegpt prunes expert FFNs only (attention would need the attention inputs' Hessians)");
  if (!settings.targets.includes('experts')) throw new PruneRequestError("sparsegpt prunes the routed experts: the targets must include 'experts'");
  // The SparseGPT run propagates layer l through its own masks; it has no hook to disable experts in that pass.
  if (settings.mode === 'sequential' && settings.expertsDrop > 0) {
    throw new PruneRequestError('sparsegpt with expert dropping runs in dense mode only (its sequential pass cannot disable experts)');
  }
}
