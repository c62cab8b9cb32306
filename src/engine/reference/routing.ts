/**
 * Router rules of the six families, on one token's router logits r [E] -> K (expert, weight) pairs. The weight
 * g(t, e) is what the architecture multiplies expert e's output by: it is also the gate the MoE-Pruner metric
 * and the calibration statistics use (docs/calibration.md). Ties between equal logits go to the lower expert index,
 * as torch.topk does on CPU for our purposes (exact ties do not occur with real-valued logits).
 */
import type { RoutingRule } from '../model/spec.ts';

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

export function route(rule: RoutingRule, logits: ArrayLike<number>, K: number): Routed {
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
  }
}
