/**
 * CPU reference for pruning masks (the oracle the GPU kernels must match bit for bit). Version 1, obviously
 * right: per comparison group, score every weight exactly as scores.ts says, stable-sort by (score, position)
 * and prune the first k = floor(n * sparsity); N:M does the same inside every block of M columns of a row with
 * k = M - N. No radix select, no histograms: nothing here shares a mistake with the GPU path.
 */
import { allKeptMask, markPruned } from '../../model/keep-mask.ts';
import { checkMatrixShapes, comparisonGroups, type PruneMatrixShape } from '../../prune/plan.ts';
import { randomStreamKey, scoreKey } from '../../prune/scores.ts';
import { checkSettings, prunedPerGroup, PruneRequestError, usesColumnFactors, type PruneSettings } from '../../prune/settings.ts';

export interface ReferenceMatrix extends PruneMatrixShape {
  /** [rows, cols] the stored values widened exactly to f32 (f16/bf16 included). */
  weights: Float32Array;
  /** [cols] c_j = columnFactors(statistic), or null for magnitude and random. */
  columnFactors: Float32Array | null;
}

export interface ReferenceResult {
  /** Keep-mask bitset per matrix, in request order. */
  masks: Uint32Array[];
  /** Comparison groups (rows, matrices, layer groups or N:M blocks) that pruned at least one weight. */
  groups: number;
  /** Of those, how many had the k-th smallest score tied with a kept score: the tie rule decided the mask. */
  boundaryTies: number;
}

/** Score keys of one matrix, [rows, cols] flattened. */
export function scoreKeysReference(settings: PruneSettings, matrix: ReferenceMatrix, index: number): Uint32Array {
  const { rows, cols, weights, label } = matrix;
  if (weights.length !== rows * cols) throw new PruneRequestError(`${label}: ${weights.length} weights for shape [${rows}, ${cols}]`);
  const factors = matrix.columnFactors;
  if (usesColumnFactors(settings.method) && (!factors || factors.length !== cols)) {
    throw new PruneRequestError(`${label}: ${settings.method} needs ${cols} column factors, got ${factors?.length ?? 'none'}`);
  }
  const streamKey = randomStreamKey(settings.seed, matrix.randomStream ?? index);
  const keys = new Uint32Array(rows * cols);
  for (let i = 0; i < keys.length; i++) {
    keys[i] = scoreKey(settings.method, weights[i], factors ? factors[i % cols] : 1, i, streamKey);
  }
  return keys;
}

/**
 * Positions (into `keys`) of the k weights a stable ascending sort by score would put first: sorts the 64-bit
 * integers score * 2^32 + position, which orders by score and then by position.
 */
function lowestK(keys: ArrayLike<number>, positions: ArrayLike<number>, k: number, tally: { groups: number; boundaryTies: number }): number[] {
  if (k === 0) return [];
  const order = new BigUint64Array(positions.length);
  for (let i = 0; i < positions.length; i++) order[i] = (BigInt(keys[positions[i]]) << 32n) | BigInt(positions[i]);
  order.sort();
  tally.groups++;
  if (k < order.length && order[k - 1] >> 32n === order[k] >> 32n) tally.boundaryTies++;
  return Array.from(order.subarray(0, k), (entry) => Number(entry & 0xffffffffn));
}

/** Keep-masks of `matrices` under `settings`, by sorting (see the file comment). */
export function pruneMasksReference(settings: PruneSettings, matrices: ReferenceMatrix[]): ReferenceResult {
  checkSettings(settings);
  checkMatrixShapes(settings, matrices);
  const keys = matrices.map((m, i) => scoreKeysReference(settings, m, i));
  const masks = matrices.map((m) => allKeptMask(m.rows * m.cols));
  const tally = { groups: 0, boundaryTies: 0 };
  const { pattern, group, sparsity } = settings;

  if (pattern.kind === 'n:m') {
    matrices.forEach((m, mi) => {
      for (let start = 0; start < m.rows * m.cols; start += pattern.m) {
        const block = Array.from({ length: pattern.m }, (_, j) => start + j);
        for (const e of lowestK(keys[mi], block, pattern.m - pattern.n, tally)) markPruned(masks[mi], e);
      }
    });
  } else if (group === 'row') {
    matrices.forEach((m, mi) => {
      const k = prunedPerGroup(m.cols, sparsity);
      for (let r = 0; r < m.rows; r++) {
        const row = Array.from({ length: m.cols }, (_, c) => r * m.cols + c);
        for (const e of lowestK(keys[mi], row, k, tally)) markPruned(masks[mi], e);
      }
    });
  } else {
    // Matrix and layer groups: the group's matrices concatenated in request order, each flat row-major.
    for (const members of comparisonGroups(group, matrices)) {
      const groupKeys = new Uint32Array(members.reduce((n, mi) => n + keys[mi].length, 0));
      let start = 0;
      for (const mi of members) {
        groupKeys.set(keys[mi], start);
        start += keys[mi].length;
      }
      const pruned = new Uint8Array(groupKeys.length);
      const positions = Uint32Array.from({ length: groupKeys.length }, (_, i) => i);
      for (const p of lowestK(groupKeys, positions, prunedPerGroup(groupKeys.length, sparsity), tally)) pruned[p] = 1;
      start = 0;
      for (const mi of members) {
        for (let e = 0; e < keys[mi].length; e++) if (pruned[start + e]) markPruned(masks[mi], e);
        start += keys[mi].length;
      }
    }
  }
  return { masks, ...tally };
}
