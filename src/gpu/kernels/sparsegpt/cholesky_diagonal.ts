/**
 * Host for shaders/sparsegpt/cholesky_diagonal.wgsl: factor diagonal block k of every matrix in place.
 * CPU reference: `inverseHessianFactor` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/cholesky_diagonal.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const choleskyDiagonalKernel = defineKernel({ name: 'sparsegpt/cholesky_diagonal', source });

/** a: [F, Cp, Cp] f32 factored in place; status: [F] u32 (zeroed by the caller). */
export function recordCholeskyDiagonal(rec: Recorder, a: BufferBinding, status: BufferBinding, factors: number, padded: number, step: number): void {
  rec.dispatch(choleskyDiagonalKernel, { bindings: { a, status }, params: { padded, step }, workgroups: [factors] });
}
