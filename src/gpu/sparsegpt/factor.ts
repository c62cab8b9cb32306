/**
 * The inverse-Hessian factor of SparseGPT on the GPU: from raw calibration sums S = sum x x^T [F, C, C] and token
 * counts n_f to U [F, C, C], the upper Cholesky factor of (2/n S + dampening)^-1, plus dead-input flags. Steps
 * (shaders/sparsegpt/, docs/sparsegpt.md): hessian_prepare (scale, dead inputs, dampening, reversal J H J, padding
 * to Cp = 32k), blocked Cholesky (cholesky_diagonal, cholesky_panel, cholesky_update per 32-column block), block-row triangular
 * inverse, factor_store (U = J L^-1 J). All F matrices of a batch go through each dispatch together.
 */
import type { GpuContext } from '../context.ts';
import { PruneRequestError } from '../../engine/prune/settings.ts';
import { beyondLimits } from '../errors.ts';
import { recordCholeskyDiagonal } from '../kernels/sparsegpt/cholesky_diagonal.ts';
import { recordCholeskyPanel } from '../kernels/sparsegpt/cholesky_panel.ts';
import { recordCholeskyUpdate } from '../kernels/sparsegpt/cholesky_update.ts';
import { recordFactorStore } from '../kernels/sparsegpt/factor_store.ts';
import { recordHessianPrepare } from '../kernels/sparsegpt/hessian_prepare.ts';
import { recordTriangularInverse } from '../kernels/sparsegpt/triangular_inverse.ts';
import type { Recorder } from '../recorder.ts';

/** Blocks of the blocked Cholesky and triangular inverse (TILE in the shaders). */
export const FACTOR_TILE = 32;

export function paddedSize(cols: number): number {
  return Math.ceil(cols / FACTOR_TILE) * FACTOR_TILE;
}

/** Bytes of the largest buffer a batch of F factors of width C binds: the padded [F, Cp, Cp] work matrices. */
export function factorBatchBytes(factors: number, cols: number): number {
  return factors * paddedSize(cols) ** 2 * 4;
}

export interface InverseHessianRequest {
  /** Names the batch in errors, e.g. 'layers.3.experts input Hessians'. */
  label: string;
  /** S [F, C, C] f32, sums of x x^T over each factor's calibration rows, from element `hessianBase`. */
  hessian: GPUBuffer;
  hessianBase?: number;
  cols: number; // C
  /** n_f: calibration rows behind each S (F = tokens.length). */
  tokens: ArrayLike<number>;
  damp: number;
}

export interface InverseHessianFactor {
  label: string;
  factors: number; // F
  cols: number; // C
  factor: GPUBuffer; // U [F, C, C] f32, zero below the diagonal
  dead: GPUBuffer; // [F, C] u32: 1 = input never active (its weights are zeroed)
  status: GPUBuffer; // [F] u32: 0, or 1 + the first non-positive pivot (of the reversed matrix)
  destroy(): void;
}

/** 2 / n_f (SparseGPT's add_batch scaling), 0 for a factor without calibration rows (identity Hessian). */
export function hessianScales(tokens: ArrayLike<number>): Float32Array {
  return Float32Array.from(tokens, (n) => (n > 0 ? 2 / n : 0));
}

/**
 * Records the factor of every S in the request; returns the factor (caller destroys it) and a cleanup for the
 * scratch buffers, to call once the recorded work has run.
 */
export function recordInverseHessianFactor(
  ctx: GpuContext,
  rec: Recorder,
  request: InverseHessianRequest,
): { factor: InverseHessianFactor; release: () => void } {
  const { cols: C, label } = request;
  const F = request.tokens.length;
  const Cp = paddedSize(C);
  if (!Number.isInteger(C) || C < 1 || F < 1) throw new RangeError(`${label}: needs at least one factor of positive width (got ${F} x ${C})`);
  if (!(request.damp >= 0 && Number.isFinite(request.damp))) throw new RangeError(`${label}: dampening ${request.damp} must be a finite number >= 0`);
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  if (factorBatchBytes(F, C) > limit) throw beyondLimits(`${label} (padded work matrices)`, factorBatchBytes(F, C), limit, 'maxStorageBufferBindingSize');
  const scales = ctx.createBuffer(`${label} scales`, F * 4);
  ctx.write(scales, hessianScales(request.tokens));
  const reversed = ctx.createBuffer(`${label} reversed H`, F * Cp * Cp * 4);
  const inverse = ctx.createBuffer(`${label} L^-1`, F * Cp * Cp * 4);
  const factor = ctx.createBuffer(`${label} U`, F * C * C * 4);
  const dead = ctx.createBuffer(`${label} dead inputs`, F * C * 4);
  const status = ctx.createBuffer(`${label} status`, F * 4);
  rec.clear(status);
  recordHessianPrepare(rec, {
    hessian: request.hessian,
    hessianBase: request.hessianBase ?? 0,
    scales,
    reversed,
    dead,
    factors: F,
    cols: C,
    padded: Cp,
    damp: request.damp,
  });
  const blocks = Cp / FACTOR_TILE;
  for (let k = 0; k < blocks; k++) {
    recordCholeskyDiagonal(rec, reversed, status, F, Cp, k);
    recordCholeskyPanel(rec, reversed, F, Cp, k);
    recordCholeskyUpdate(rec, reversed, F, Cp, k);
  }
  for (let i = 0; i < blocks; i++) recordTriangularInverse(rec, reversed, inverse, F, Cp, i);
  recordFactorStore(rec, inverse, factor, F, C, Cp);
  return {
    factor: {
      label,
      factors: F,
      cols: C,
      factor,
      dead,
      status,
      destroy: () => {
        for (const b of [factor, dead, status]) b.destroy();
      },
    },
    release: () => {
      for (const b of [scales, reversed, inverse]) b.destroy();
    },
  };
}

/** Throws when a factorization met a non-positive pivot (waits for the GPU). */
export async function checkFactorStatus(ctx: GpuContext, factor: InverseHessianFactor, damp: number): Promise<void> {
  const status = await ctx.readU32(factor.status);
  const bad = status.findIndex((s) => s !== 0);
  if (bad >= 0) {
    throw new PruneRequestError(
      `${factor.label}: matrix ${bad} is not positive definite after dampening ${damp} (pivot ${factor.cols - status[bad]} of ${factor.cols}); raise --damp`,
    );
  }
}
