import { describe, expect, it } from 'vitest';
import { cholesky, choleskyInverse, hessianOf, sparseGptReference } from '../../src/engine/reference/sparsegpt/matrix.ts';
import { createRng } from '../../src/engine/random.ts';

/** Rows of correlated inputs x = z A (A random), so H is far from diagonal and OBS updates matter. */
function correlatedInputs(n: number, C: number, seed: number): Float64Array {
  const rng = createRng(seed);
  const A = Float64Array.from({ length: C * C }, () => rng.normal() / Math.sqrt(C));
  for (let i = 0; i < C; i++) A[i * C + i] += 1;
  const x = new Float64Array(n * C);
  for (let t = 0; t < n; t++) {
    const z = Array.from({ length: C }, () => rng.normal());
    for (let j = 0; j < C; j++) for (let k = 0; k < C; k++) x[t * C + j] += z[k] * A[k * C + j];
  }
  return x;
}

/** ||(W - W') X^T||^2: the layer-wise reconstruction error SparseGPT minimizes. */
function reconstructionError(W: ArrayLike<number>, Wp: ArrayLike<number>, R: number, C: number, x: Float64Array, n: number): number {
  let total = 0;
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < R; r++) {
      let d = 0;
      for (let j = 0; j < C; j++) d += (W[r * C + j] - Wp[r * C + j]) * x[t * C + j];
      total += d * d;
    }
  }
  return total;
}

describe('SparseGPT CPU reference', () => {
  const R = 12;
  const C = 48;
  const n = 200;
  const rng = createRng(3);
  const W = Float64Array.from({ length: R * C }, () => rng.normal());
  const x = correlatedInputs(n, C, 4);
  const H = hessianOf(x, n, C);

  it('Cholesky and its inverse reproduce the identity', () => {
    const inverse = choleskyInverse(cholesky(H, C), C);
    for (let i = 0; i < C; i++) {
      for (let j = 0; j < C; j++) {
        let s = 0;
        for (let k = 0; k < C; k++) s += H[i * C + k] * inverse[k * C + j];
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-9);
      }
    }
  });

  it('leaves W unchanged at sparsity 0', () => {
    const result = sparseGptReference(W, R, C, H, { sparsity: 0, blockSize: 16 });
    for (let i = 0; i < W.length; i++) expect(result.weights[i]).toBeCloseTo(W[i], 12);
    expect(result.keep.every((k) => k === 1)).toBe(true);
  });

  it('prunes exactly floor(rows x block x s) per block, and pruned weights are exactly 0', () => {
    const result = sparseGptReference(W, R, C, H, { sparsity: 0.5, blockSize: 16 });
    for (let start = 0; start < C; start += 16) {
      let pruned = 0;
      for (let r = 0; r < R; r++) for (let j = start; j < start + 16; j++) if (!result.keep[r * C + j]) pruned++;
      expect(pruned).toBe(Math.floor(R * 16 * 0.5));
    }
    result.keep.forEach((k, i) => {
      if (!k) expect(result.weights[i]).toBe(0);
    });
  });

  it('reconstructs the layer output with clearly less error than the Wanda mask at 50%', () => {
    const sgpt = sparseGptReference(W, R, C, H, { sparsity: 0.5, blockSize: 16 });
    // Wanda: per row, prune the C/2 smallest |W_ij| * ||x_j||, no weight update.
    const colNorm = Array.from({ length: C }, (_, j) => Math.sqrt(H[j * C + j]));
    const wanda = Float64Array.from(W);
    for (let r = 0; r < R; r++) {
      const order = Array.from({ length: C }, (_, j) => j).sort((a, b) => Math.abs(W[r * C + a]) * colNorm[a] - Math.abs(W[r * C + b]) * colNorm[b]);
      for (const j of order.slice(0, C / 2)) wanda[r * C + j] = 0;
    }
    const errSgpt = reconstructionError(W, sgpt.weights, R, C, x, n);
    const errWanda = reconstructionError(W, wanda, R, C, x, n);
    expect(errSgpt).toBeLessThan(0.9 * errWanda);
  });

  it('with a diagonal Hessian it is block-wise magnitude pruning without updates', () => {
    const diagonal = new Float64Array(C * C);
    for (let j = 0; j < C; j++) diagonal[j * C + j] = 2;
    const result = sparseGptReference(W, R, C, diagonal, { sparsity: 0.25, blockSize: C });
    const order = Array.from(W, (v, i) => [Math.abs(v), i] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    const expectedPruned = new Set(order.slice(0, Math.floor(R * C * 0.25)).map(([, i]) => i));
    result.keep.forEach((k, i) => expect(k === 0).toBe(expectedPruned.has(i)));
    result.keep.forEach((k, i) => {
      if (k) expect(result.weights[i]).toBeCloseTo(W[i], 12);
    });
  });

  it('N:M keeps exactly N of every M consecutive columns in each row', () => {
    const result = sparseGptReference(W, R, C, H, { sparsity: 0, nm: { n: 2, m: 4 }, blockSize: 16 });
    for (let r = 0; r < R; r++) {
      for (let g = 0; g < C; g += 4) {
        let kept = 0;
        for (let j = g; j < g + 4; j++) kept += result.keep[r * C + j];
        expect(kept).toBe(2);
      }
    }
    expect(() => sparseGptReference(W, R, C, H, { sparsity: 0, nm: { n: 2, m: 4 }, blockSize: 18 })).toThrow(/multiple of M/);
  });

  it('zeroes dead input columns (H_jj = 0)', () => {
    const xDead = Float64Array.from(x);
    for (let t = 0; t < n; t++) xDead[t * C + 5] = 0;
    const result = sparseGptReference(W, R, C, hessianOf(xDead, n, C), { sparsity: 0.1, blockSize: 16 });
    for (let r = 0; r < R; r++) expect(result.weights[r * C + 5]).toBe(0);
  });
});
