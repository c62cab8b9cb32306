/**
 * CPU reference of shaders/eval/fidelity.wgsl, in f64 and written to be obviously right: for one position, the
 * dense and the pruned model's next-token distributions p = softmax(z_dense), q = softmax(z_pruned) over V, and
 *   KL(p || q) = sum_v p_v (log p_v - log q_v)   (nats; the Kullback-Leibler divergence of the pruned model's
 *   prediction from the dense model's),
 * and the most likely next token of each model (argmax; ties to the lowest token id, what a stable sort and
 * torch.argmax on CPU give).
 */

export interface RowFidelity {
  /** KL(p_dense || p_pruned), nats. */
  kl: number;
  /** argmax of the dense logits (lowest id among equal maxima). */
  denseTop: number;
  /** argmax of the pruned logits (lowest id among equal maxima). */
  prunedTop: number;
}

/** Index of the largest of logits[offset .. offset + V - 1], the lowest index among equal maxima. */
export function argmaxLowest(logits: ArrayLike<number>, offset: number, V: number): number {
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[offset + v] > logits[offset + best]) best = v;
  return best;
}

/** log softmax of one row, in f64. */
function logSoftmax(logits: ArrayLike<number>, offset: number, V: number): Float64Array {
  let max = -Infinity;
  for (let v = 0; v < V; v++) max = Math.max(max, logits[offset + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) sum += Math.exp(logits[offset + v] - max);
  const logZ = max + Math.log(sum);
  return Float64Array.from({ length: V }, (_, v) => logits[offset + v] - logZ);
}

/** KL and both argmaxes of one position: dense and pruned logits rows [V] at `offset` of their arrays. */
export function fidelityOfRow(dense: ArrayLike<number>, pruned: ArrayLike<number>, offset: number, V: number): RowFidelity {
  const logP = logSoftmax(dense, offset, V);
  const logQ = logSoftmax(pruned, offset, V);
  let kl = 0;
  for (let v = 0; v < V; v++) kl += Math.exp(logP[v]) * (logP[v] - logQ[v]);
  return { kl, denseTop: argmaxLowest(dense, offset, V), prunedTop: argmaxLowest(pruned, offset, V) };
}

/** fidelityOfRow for every row of two [T, V] logits arrays. */
export function fidelityOfRows(dense: ArrayLike<number>, pruned: ArrayLike<number>, T: number, V: number): RowFidelity[] {
  return Array.from({ length: T }, (_, t) => fidelityOfRow(dense, pruned, t * V, V));
}
