/**
 * CPU references (f64) of the training kernels' forward functions that src/engine/reference/ops.ts does not have
 * in this form. The backward kernels are checked against central finite differences of these (and of the ops.ts
 * ones: rmsNorm, applyRope, causalAttention), so each is the plain definition, nothing clever.
 */
import { nllOfRow, silu } from '../ops.ts';
import { route } from '../routing.ts';

/** act [R, I] = silu(g) * u from gu [R, 2I] (gate columns, then up columns). */
export function swigluRows(gu: ArrayLike<number>, rows: number, width: number): Float64Array {
  const act = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < width; i++) act[r * width + i] = silu(gu[r * 2 * width + i]) * gu[r * 2 * width + width + i];
  }
  return act;
}

/** Mean next-token NLL over rows of logits [T, V] with the given targets. */
export function meanCrossEntropy(logits: ArrayLike<number>, targets: ArrayLike<number>, vocab: number): number {
  let total = 0;
  for (let t = 0; t < targets.length; t++) total += nllOfRow(logits, t * vocab, vocab, targets[t]);
  return total / targets.length;
}

/** x [T, H] = table[ids[t]]. */
export function embeddingLookup(table: ArrayLike<number>, ids: ArrayLike<number>, hidden: number): Float64Array {
  const x = new Float64Array(ids.length * hidden);
  for (let t = 0; t < ids.length; t++) for (let h = 0; h < hidden; h++) x[t * hidden + h] = table[ids[t] * hidden + h];
  return x;
}

export interface RouterObjective {
  /** Routing of every token: experts [T][K], gates [T][K]. */
  experts: number[][];
  gates: number[][];
  /** Softmax of the router logits [T, E]. */
  probs: Float64Array;
  /** Switch load-balancing loss E * sum_e (assignments_e / T) * mean_t p[t, e]. */
  aux: number;
}

/**
 * Softmax -> top-K (-> renormalize over the K when `renormalize`, Mixtral; else the gates are the probabilities,
 * norm_topk_prob = false) for every row of logits [T, E], and the load-balancing loss of the batch.
 */
export function routeTokens(logits: ArrayLike<number>, tokens: number, experts: number, topK: number, renormalize = true): RouterObjective {
  const probs = new Float64Array(tokens * experts);
  const chosen: number[][] = [];
  const gates: number[][] = [];
  const counts = new Float64Array(experts);
  for (let t = 0; t < tokens; t++) {
    const row = Array.from({ length: experts }, (_, e) => logits[t * experts + e]);
    const max = Math.max(...row);
    const exps = row.map((r) => Math.exp(r - max));
    const sum = exps.reduce((a, b) => a + b, 0);
    exps.forEach((x, e) => (probs[t * experts + e] = x / sum));
    const routed = route({ kind: 'softmax-topk', renormalize }, row, topK);
    chosen.push(routed.experts);
    gates.push(routed.weights);
    for (const e of routed.experts) counts[e]++;
  }
  let aux = 0;
  for (let e = 0; e < experts; e++) {
    let mean = 0;
    for (let t = 0; t < tokens; t++) mean += probs[t * experts + e];
    aux += (counts[e] / tokens) * (mean / tokens);
  }
  return { experts: chosen, gates, probs, aux: experts * aux };
}
