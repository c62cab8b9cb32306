/**
 * Expert-level pruning (docs/pruning.md): per MoE layer drop the r experts with the lowest criterion value, ties to
 * the lower expert index (as a stable ascending sort). A dropped expert takes no part in routing any more
 * (expertEnabled = 0: its router logit counts as -inf, so the routing rule renormalizes over the kept experts,
 * docs/forward.md), and on export it is removed from the model (src/engine/export).
 *
 * Criteria from the layer's calibration statistics (src/engine/calibration/stats.ts), T = calibration tokens:
 * - frequency: expert_tokens[e], how many tokens the router sent to e;
 * - gate: mean gate weight expert_gate_sum[e] / T, i.e. g averaged over all calibration tokens with g = 0 where e
 *   was not chosen (the "soft" frequency: frequency weighted by how much the router trusted e);
 * - reap: REAP saliency (Lasby et al. 2025, eq. 1): the mean over e's routed tokens of g * ||expert output||_2,
 *   expert_output_norm_gated_sum[e] / expert_tokens[e]; an expert no token reached scores 0.
 */
import type { LayerStats } from '../calibration/stats.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { ExpertCriterion } from './pipeline-settings.ts';
import { PruneRequestError } from './settings.ts';

/** [E] the criterion per expert (f64), larger = more worth keeping. */
export function expertCriterionValues(stats: LayerStats, criterion: ExpertCriterion, tokens: number): Float64Array {
  const E = stats.expertTokens.length;
  const values = new Float64Array(E);
  for (let e = 0; e < E; e++) {
    const routed = stats.expertTokens[e];
    if (criterion === 'frequency') values[e] = routed;
    else if (criterion === 'gate') values[e] = tokens > 0 ? stats.expertGateSum[e] / tokens : 0;
    else values[e] = routed > 0 ? stats.expertOutputNormGatedSum[e] / routed : 0;
    if (!Number.isFinite(values[e])) throw new PruneRequestError(`expert ${e}: criterion '${criterion}' is ${values[e]} (statistics not finite)`);
  }
  return values;
}

/** The `count` experts with the lowest values (ties: lower index first), in ascending index order. */
export function lowestExperts(values: ArrayLike<number>, count: number): number[] {
  if (!Number.isInteger(count) || count < 0 || count > values.length) {
    throw new PruneRequestError(`cannot drop ${count} of ${values.length} experts`);
  }
  const order = Array.from({ length: values.length }, (_, e) => e).sort((a, b) => values[a] - values[b] || a - b);
  return order.slice(0, count).sort((a, b) => a - b);
}

/**
 * How many routing groups the experts form: n_group under group-limited routing (DeepSeek-V2/V3, GLM-4.5: groups of
 * E / n_group consecutive experts), else 1. Expert dropping takes the same number from each group (docs/pruning.md).
 */
export function expertGroups(spec: Pick<MoeModelSpec, 'routing'>): number {
  return spec.routing.kind === 'grouped-topk' ? spec.routing.groups : 1;
}

/**
 * The `count` experts to drop with `groups` routing groups: count / groups from each group of values.length / groups
 * consecutive experts, the lowest of that group (lowestExperts), so every exported group keeps the same size and its
 * experts stay one index range. Ascending index order.
 */
export function lowestExpertsPerGroup(values: ArrayLike<number>, count: number, groups: number): number[] {
  if (values.length % groups || count % groups) {
    throw new PruneRequestError(`cannot drop ${count} of ${values.length} experts evenly from ${groups} routing groups (drop a multiple of ${groups})`);
  }
  const size = values.length / groups;
  const all = Array.from(values);
  return Array.from({ length: groups }, (_, g) => lowestExperts(all.slice(g * size, (g + 1) * size), count / groups).map((e) => g * size + e)).flat();
}

/** [E] 1 = enabled, 0 = dropped (the MaskSet's expertEnabled). */
export function expertEnabledVector(numExperts: number, dropped: readonly number[]): Uint8Array {
  const enabled = new Uint8Array(numExperts).fill(1);
  for (const e of dropped) enabled[e] = 0;
  return enabled;
}
