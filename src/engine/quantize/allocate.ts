/**
 * Mixed precision per matrix (QPruner's layer-wise mixed-precision idea, applied per expert matrix): given each
 * matrix's measured error at every candidate width and an average bit budget, choose one width per matrix so that
 * sum(bits_m x weights_m) <= budget x sum(weights_m) and the summed error is smallest.
 * - `knapsackAllocation`: exact, a DP over matrices x total bits in units of the gcd of the matrix sizes (a
 *   multiple-choice knapsack); refused when the table would pass MAX_DP_CELLS (greedy still works).
 * - `greedyAllocation`: everyone starts at the narrowest width; repeatedly take the upgrade (one matrix to its next
 *   width) with the largest error drop per extra bit that still fits. Not optimal in general.
 * The error here is whatever the caller measured; the lab uses sum_t ||(W - W_q) x_t||^2 over the matrix's routed
 * calibration tokens (tr(dW S dW^T) with S = sum x x^T), so a rarely routed expert counts less.
 */
import { QUANT_BITS, type QuantBits } from './quantized-matrix.ts';

export interface AllocationItem {
  /** Weights of the matrix (rows x cols). */
  weights: number;
  /** Error at each width of QUANT_BITS (same order). */
  errors: readonly number[];
}

export interface Allocation {
  bits: QuantBits[];
  /** Summed error of the choice. */
  error: number;
  /** Achieved average code bits per weight. */
  averageBits: number;
}

export const MAX_DP_CELLS = 50_000_000;

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);

function summarize(items: readonly AllocationItem[], choice: number[]): Allocation {
  let bits = 0;
  let weights = 0;
  let error = 0;
  choice.forEach((c, m) => {
    bits += QUANT_BITS[c] * items[m].weights;
    weights += items[m].weights;
    error += items[m].errors[c];
  });
  return { bits: choice.map((c) => QUANT_BITS[c]), error, averageBits: weights ? bits / weights : 0 };
}

function checkBudget(items: readonly AllocationItem[], averageBits: number): number {
  const total = items.reduce((s, it) => s + it.weights, 0);
  if (averageBits < Math.min(...QUANT_BITS)) throw new RangeError(`average bits ${averageBits} is below the narrowest width ${Math.min(...QUANT_BITS)}`);
  return averageBits * total;
}

/** Exact multiple-choice knapsack: least summed error with sum(bits x weights) <= averageBits x sum(weights). */
export function knapsackAllocation(items: readonly AllocationItem[], averageBits: number): Allocation {
  const budgetBits = checkBudget(items, averageBits);
  const unit = items.reduce((g, it) => gcd(g, it.weights), 0) || 1;
  const capacity = Math.floor(budgetBits / unit + 1e-9);
  if ((items.length + 1) * (capacity + 1) > MAX_DP_CELLS) {
    throw new RangeError(`the exact allocation needs ${items.length + 1} x ${capacity + 1} table cells (over ${MAX_DP_CELLS}); use the greedy allocation`);
  }
  // best[c]: least error of the matrices so far using exactly c units; choice[m][c]: width index taken by matrix m.
  let best = new Float64Array(capacity + 1).fill(Infinity);
  best[0] = 0;
  const choices: Int8Array[] = [];
  for (const item of items) {
    const next = new Float64Array(capacity + 1).fill(Infinity);
    const choice = new Int8Array(capacity + 1).fill(-1);
    QUANT_BITS.forEach((bits, w) => {
      const cost = (bits * item.weights) / unit;
      for (let c = cost; c <= capacity; c++) {
        const value = best[c - cost] + item.errors[w];
        // Ties: the earlier width in QUANT_BITS (the wider one) wins, for a deterministic choice.
        if (value < next[c]) {
          next[c] = value;
          choice[c] = w;
        }
      }
    });
    choices.push(choice);
    best = next;
  }
  let end = -1;
  for (let c = 0; c <= capacity; c++) if (best[c] < Infinity && (end < 0 || best[c] < best[end])) end = c;
  const picked = new Array<number>(items.length);
  for (let m = items.length - 1; m >= 0; m--) {
    picked[m] = choices[m][end];
    end -= (QUANT_BITS[picked[m]] * items[m].weights) / unit;
  }
  return summarize(items, picked);
}

/** Greedy upgrades from the narrowest width (see the file comment). */
export function greedyAllocation(items: readonly AllocationItem[], averageBits: number): Allocation {
  const budgetBits = checkBudget(items, averageBits);
  // Width indices ordered narrow -> wide.
  const order = QUANT_BITS.map((b, w) => [b, w] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([, w]) => w);
  const level = items.map(() => 0);
  let used = items.reduce((s, it) => s + QUANT_BITS[order[0]] * it.weights, 0);
  for (;;) {
    let pick = -1;
    let pickRate = 0;
    items.forEach((item, m) => {
      if (level[m] + 1 >= order.length) return;
      const from = order[level[m]];
      const to = order[level[m] + 1];
      const extra = (QUANT_BITS[to] - QUANT_BITS[from]) * item.weights;
      if (used + extra > budgetBits + 1e-9) return;
      const rate = (item.errors[from] - item.errors[to]) / extra;
      if (pick < 0 || rate > pickRate) {
        pick = m;
        pickRate = rate;
      }
    });
    if (pick < 0) break;
    used += (QUANT_BITS[order[level[pick] + 1]] - QUANT_BITS[order[level[pick]]]) * items[pick].weights;
    level[pick]++;
  }
  return summarize(
    items,
    level.map((l) => order[l]),
  );
}
