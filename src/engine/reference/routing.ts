/**
 * Router rules of the families, on one token's router logits r [E] -> K (expert, weight) pairs. The weight
 * g(t, e) is what the architecture multiplies expert e's output by: it is also the gate the MoE-Pruner metric
 * and the calibration statistics use (docs/calibration.md). Ties between equal logits go to the lower expert index,
 * as torch.topk does on CPU for our purposes (exact ties do not occur with real-valued logits).
 */
import type { GroupedTopk, RoutingRule } from '../model/spec.ts';
import { sigmoid } from './ops.ts';

export interface Routed {
  experts: number[]; // [K], in the order the family's code produces them (descending weight for top-k rules)
  weights: number[]; // [K]
}

/** Indices of the K largest values, descending; ties -> lower index first. */
export function topKIndices(values: ArrayLike<number>, K: number): number[] {
  const order = Array.from({ length: values.length }, (_, i) => i);
  order.sort((a, b) => values[b] - values[a] || a - b);
  return order.slice(0, K);
}

function softmax(values: number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((v) => (v === -Infinity ? 0 : Math.exp(v - max)));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * PhiMoE's sparsemixer at inference (transformers `sparsemixer`, training=False): the top-1 expert gets the
 * softmax over the logits within a relative band 2*eps of the max ((max - r_e) / max(|r_e|, max) <= 2 eps); the
 * top-2 expert (max among the rest) gets the same over the remaining logits, measured against the second max.
 */
function sparsemixer(logits: ArrayLike<number>, jitterEps: number): Routed {
  const r = Array.from(logits);
  const E = r.length;
  const band = (threshold: number, candidates: number[]) =>
    candidates.map((v, e) => ((threshold - r[e]) / Math.max(Math.abs(r[e]), threshold) > 2 * jitterEps ? -Infinity : v));
  const first = topKIndices(r, 1)[0];
  const gates1 = softmax(band(r[first], r));
  const rest = r.map((v, e) => (e === first ? -Infinity : v));
  let second = -1;
  for (let e = 0; e < E; e++) if (rest[e] !== -Infinity && (second < 0 || rest[e] > rest[second])) second = e;
  if (second < 0) return { experts: [first], weights: [gates1[first]] };
  const gates2 = softmax(band(rest[second], rest));
  return { experts: [first, second], weights: [gates1[first], gates2[second]] };
}

/**
 * DeepSeek-V2/V3 and GLM-4.5 (transformers' DeepseekV2TopkRouter / DeepseekV3TopkRouter / Glm4MoeTopkRouter):
 * see GroupedTopk. A dropped expert (logit -inf) is never chosen: its choice score is -inf, so a group keeping
 * fewer than two experts scores -inf under 'top2-sum' (it competes only when no other group is left).
 */
function groupedTopk(rule: GroupedTopk, logits: ArrayLike<number>, K: number, bias: ArrayLike<number> | null): Routed {
  const r = Array.from(logits);
  const E = r.length;
  const scores = rule.score === 'softmax' ? softmax(r) : r.map(sigmoid);
  const dropped = r.map((v) => v === -Infinity);
  const choice = scores.map((s, e) => (dropped[e] ? -Infinity : s + (rule.correctionBias && bias ? bias[e] : 0)));
  const size = E / rule.groups;
  if (rule.groups > 1) {
    const groupScores = Array.from({ length: rule.groups }, (_, g) => {
      const best = topKIndices(choice.slice(g * size, (g + 1) * size), 2).map((i) => choice[g * size + i]);
      return rule.groupScore === 'max' ? best[0] : best[0] + best[1];
    });
    const kept = new Set(topKIndices(groupScores, rule.topkGroups));
    for (let e = 0; e < E; e++) if (!kept.has(Math.floor(e / size))) choice[e] = -Infinity;
  }
  const experts = topKIndices(choice, K).filter((e) => choice[e] !== -Infinity);
  let weights = experts.map((e) => scores[e]);
  if (rule.renormalize) {
    const sum = weights.reduce((a, b) => a + b, 0) + 1e-20;
    weights = weights.map((w) => w / sum);
  }
  return { experts, weights: weights.map((w) => w * rule.scale) };
}

/** `bias`: the layer's e_score_correction_bias [E] (grouped-topk rules with correctionBias; ignored otherwise). */
export function route(rule: RoutingRule, logits: ArrayLike<number>, K: number, bias: ArrayLike<number> | null = null): Routed {
  switch (rule.kind) {
    case 'softmax-topk': {
      const probs = softmax(Array.from(logits));
      const experts = topKIndices(probs, K);
      let weights = experts.map((e) => probs[e]);
      if (rule.renormalize) {
        const sum = weights.reduce((a, b) => a + b, 0);
        weights = weights.map((w) => w / sum);
      }
      return { experts, weights };
    }
    case 'topk-softmax': {
      const experts = topKIndices(logits, K);
      return { experts, weights: softmax(experts.map((e) => logits[e])) };
    }
    case 'sparsemixer':
      return sparsemixer(logits, rule.jitterEps);
    case 'grouped-topk':
      return groupedTopk(rule, logits, K, bias);
  }
}
