/**
 * Host for shaders/sparsegpt/cholesky_update.wgsl: the trailing SYRK update after panel step k.
 * CPU reference: `inverseHessianFactor` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/cholesky_update.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const choleskyUpdateKernel = defineKernel({ name: 'sparsegpt/cholesky_update', source });

/** a: [F, Cp, Cp] f32; nothing to do after the last block column. */
export function recordCholeskyUpdate(rec: Recorder, a: BufferBinding, factors: number, padded: number, step: number): void {
  const below = padded / 32 - step - 1;
  if (below <= 0) return;
  rec.dispatch(choleskyUpdateKernel, {
    bindings: { a },
    params: { padded, step },
    workgroups: [below, below, factors],
  });
}
