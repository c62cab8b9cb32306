/**
 * SparseGPT (Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in One-Shot"),
 * CPU reference in f64: the oracle for the GPU version. For one weight matrix W [R, C] (rows = outputs) and the
 * Hessian of its layer-wise reconstruction loss H = 2/n sum_t x_t x_t^T [C, C] over the calibration inputs:
 *   1. dead inputs (H_jj = 0): H_jj = 1, W[:, j] = 0;
 *   2. dampening: H += damp * mean(diag H) * I (damp = 0.01 by default);
 *   3. U = the upper Cholesky factor of H^-1 (H^-1 = U^T U), so that row i of U holds the OBS update
 *      coefficients for column i given columns < i already fixed (Algorithm 1 of the paper);
 *   4. columns in blocks of B (128): at the start of a block choose its mask from w^2 / U_jj^2 (unstructured:
 *      over the whole block, all rows; N:M: each group of M columns, per row, as the column loop reaches it),
 *      then column by column: q = w with pruned entries 0, err = (w - q) / U_ii, W[:, i:] -= err U[i, i:]
 *      within the block, and after the block W[:, end:] -= Err U[block, end:] (lazy batch updates).
 * Selection differs from the reference code in one documented way: a block prunes exactly floor(rows x B x s)
 * entries (ties: lower flat index first, as everywhere in this lab); the reference prunes those <= the k-th value.
 */

export interface SparseGptOptions {
  /** Unstructured sparsity in [0, 1); ignored when `nm` is set. */
  sparsity: number;
  /** N:M semi-structured: keep N of every M consecutive columns of a row. */
  nm?: { n: number; m: number } | null;
  blockSize?: number; // B, default 128
  damp?: number; // fraction of mean(diag H), default 0.01
}

export interface SparseGptResult {
  weights: Float64Array; // [R, C]: updated, pruned entries exactly 0
  keep: Uint8Array; // [R, C]: 1 = kept
  /** Sum over rows of the OBS loss estimate sum (w - q)^2 / U_ii^2 / 2. */
  loss: number;
}

/** Lower Cholesky factor of a symmetric positive definite matrix A [n, n] (A = L L^T). */
export function cholesky(A: Float64Array, n: number): Float64Array {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * n + j];
      for (let k = 0; k < j; k++) sum -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(sum > 0)) throw new RangeError(`matrix is not positive definite (pivot ${i} = ${sum}); raise the dampening`);
        L[i * n + i] = Math.sqrt(sum);
      } else {
        L[i * n + j] = sum / L[j * n + j];
      }
    }
  }
  return L;
}

/** (L L^T)^-1 from the lower Cholesky factor L (torch.cholesky_inverse). */
export function choleskyInverse(L: Float64Array, n: number): Float64Array {
  // Linv = L^-1 by forward substitution, then A^-1 = Linv^T Linv.
  const Linv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    Linv[i * n + i] = 1 / L[i * n + i];
    for (let j = 0; j < i; j++) {
      let sum = 0;
      for (let k = j; k < i; k++) sum -= L[i * n + k] * Linv[k * n + j];
      Linv[i * n + j] = sum / L[i * n + i];
    }
  }
  const inverse = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = 0;
      for (let k = i; k < n; k++) sum += Linv[k * n + i] * Linv[k * n + j];
      inverse[i * n + j] = sum;
      inverse[j * n + i] = sum;
    }
  }
  return inverse;
}

/** Upper Cholesky factor U of H^-1 after dead-column handling and dampening (step 1-3 above). */
export function inverseHessianFactor(H: Float64Array, n: number, damp: number): { U: Float64Array; dead: boolean[] } {
  const h = new Float64Array(H);
  const dead = Array.from({ length: n }, (_, j) => h[j * n + j] === 0);
  dead.forEach((isDead, j) => {
    if (isDead) h[j * n + j] = 1;
  });
  let meanDiagonal = 0;
  for (let j = 0; j < n; j++) meanDiagonal += h[j * n + j];
  meanDiagonal /= n;
  for (let j = 0; j < n; j++) h[j * n + j] += damp * meanDiagonal;
  const inverse = choleskyInverse(cholesky(h, n), n);
  const lower = cholesky(inverse, n); // inverse = lower lower^T; U = lower^T
  const U = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) U[j * n + i] = lower[i * n + j];
  return { U, dead };
}

/** Indices of the k smallest values, ties -> lower index (a stable ascending sort's first k). */
function smallestK(values: number[], k: number): number[] {
  return values
    .map((v, i) => [v, i] as const)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1])
    .slice(0, k)
    .map(([, i]) => i);
}

export function sparseGptReference(W: ArrayLike<number>, R: number, C: number, H: Float64Array, options: SparseGptOptions): SparseGptResult {
  const B = options.blockSize ?? 128;
  const nm = options.nm ?? null;
  if (nm && (nm.n >= nm.m || nm.n < 0 || B % nm.m !== 0)) throw new RangeError(`N:M ${nm.n}:${nm.m} needs N < M and a block size that is a multiple of M`);
  const { U, dead } = inverseHessianFactor(H, C, options.damp ?? 0.01);
  const w = Float64Array.from(W);
  dead.forEach((isDead, j) => {
    if (isDead) for (let r = 0; r < R; r++) w[r * C + j] = 0;
  });
  const keep = new Uint8Array(R * C).fill(1);
  let loss = 0;
  for (let start = 0; start < C; start += B) {
    const end = Math.min(start + B, C);
    const width = end - start;
    if (!nm) {
      const scores: number[] = [];
      for (let r = 0; r < R; r++) for (let j = start; j < end; j++) scores.push(w[r * C + j] ** 2 / U[j * C + j] ** 2);
      for (const flat of smallestK(scores, Math.floor(R * width * options.sparsity))) {
        keep[Math.floor(flat / width) * C + start + (flat % width)] = 0;
      }
    }
    const err = new Float64Array(R * width); // Err1 [R, width]
    for (let i = start; i < end; i++) {
      if (nm && (i - start) % nm.m === 0) {
        const group = Math.min(nm.m, end - i);
        for (let r = 0; r < R; r++) {
          const scores = Array.from({ length: group }, (_, g) => w[r * C + i + g] ** 2 / U[(i + g) * C + i + g] ** 2);
          for (const g of smallestK(scores, nm.m - nm.n)) if (g < group) keep[r * C + i + g] = 0;
        }
      }
      const d = U[i * C + i];
      for (let r = 0; r < R; r++) {
        const value = w[r * C + i];
        const q = keep[r * C + i] ? value : 0;
        const e = (value - q) / d;
        loss += ((value - q) / d) ** 2 / 2;
        err[r * width + (i - start)] = e;
        w[r * C + i] = q;
        for (let j = i + 1; j < end; j++) w[r * C + j] -= e * U[i * C + j];
      }
    }
    for (let r = 0; r < R; r++) {
      for (let j = end; j < C; j++) {
        let update = 0;
        for (let i = start; i < end; i++) update += err[r * width + (i - start)] * U[i * C + j];
        w[r * C + j] -= update;
      }
    }
  }
  return { weights: w, keep, loss };
}

/** H = 2/n sum_t x_t x_t^T over rows x [n, C] (SparseGPT's add_batch, in f64). */
export function hessianOf(x: ArrayLike<number>, n: number, C: number): Float64Array {
  const H = new Float64Array(C * C);
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < C; i++) {
      const xi = x[t * C + i];
      if (xi === 0) continue;
      for (let j = 0; j < C; j++) H[i * C + j] += xi * x[t * C + j];
    }
  }
  for (let i = 0; i < H.length; i++) H[i] *= 2 / n;
  return H;
}

/**
 * The Hessian SparseGPT works with, from raw sums S = sum_t x_t x_t^T [C, C] over n calibration rows: 2/n S, or
 * the identity when n = 0 (an expert no calibration token reached: block-wise magnitude pruning instead of zeroing
 * the whole expert as "dead inputs" would; docs/sparsegpt.md). The GPU path applies the same rule.
 */
export function scaledHessian(S: ArrayLike<number>, C: number, n: number): Float64Array {
  const H = new Float64Array(C * C);
  if (n === 0) {
    for (let j = 0; j < C; j++) H[j * C + j] = 1;
    return H;
  }
  for (let i = 0; i < C * C; i++) H[i] = (2 / n) * S[i];
  return H;
}
