/**
 * CPU reference for pruning masks (the oracle the GPU kernels must match bit for bit). Version 1, obviously
 * right: per comparison group, score every weight exactly as scores.ts says, stable-sort by (score, position)
 * and prune the first k = floor(n * sparsity); N:M does the same inside every block of M columns of a row with
 * k = M - N. No radix select, no histograms: nothing here shares a mistake with the GPU path.
 */
import { allKeptMask, markPruned } from './masks.ts';
import { checkMatrixShapes, comparisonGroups, type PruneMatrixShape } from './plan.ts';
import { randomStreamKey, scoreKey } from './scores.ts';
import { checkSettings, prunedPerGroup, PruneRequestError, usesColumnFactors, type PruneSettings } from './settings.ts';

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

/** Positions (into `keys`) of the k weights a stable ascending sort by score would put first. */
function lowestK(keys: ArrayLike<number>, positions: number[], k: number, tally: { groups: number; boundaryTies: number }): number[] {
  if (k === 0) return [];
  const order = [...positions].sort((a, b) => keys[a] - keys[b] || a - b);
  tally.groups++;
  if (k < order.length && keys[order[k - 1]] === keys[order[k]]) tally.boundaryTies++;
  return order.slice(0, k);
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
      for (let start = 0; start < m.rows * m.cols; start += pattern.block) {
        const block = Array.from({ length: pattern.block }, (_, j) => start + j);
        for (const e of lowestK(keys[mi], block, pattern.block - pattern.keep, tally)) markPruned(masks[mi], e);
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
      const groupKeys: number[] = [];
      const owner: [number, number][] = [];
      for (const mi of members) {
        keys[mi].forEach((key, e) => {
          groupKeys.push(key);
          owner.push([mi, e]);
        });
      }
      const k = prunedPerGroup(groupKeys.length, sparsity);
      const positions = Array.from({ length: groupKeys.length }, (_, i) => i);
      for (const p of lowestK(groupKeys, positions, k, tally)) markPruned(masks[owner[p][0]], owner[p][1]);
    }
  }
  return { masks, ...tally };
}
