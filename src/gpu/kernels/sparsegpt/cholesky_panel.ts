/**
 * Host for shaders/sparsegpt/cholesky_panel.wgsl: solve the blocks below diagonal block k.
 * CPU reference: `inverseHessianFactor` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/cholesky_panel.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const choleskyPanelKernel = defineKernel({ name: 'sparsegpt/cholesky_panel', source });

/** a: [F, Cp, Cp] f32 with L[k, k] factored; nothing to do below the last block. */
export function recordCholeskyPanel(rec: Recorder, a: BufferBinding, factors: number, padded: number, step: number): void {
  const below = padded / 32 - step - 1;
  if (below <= 0) return;
  rec.dispatch(choleskyPanelKernel, { bindings: { a }, params: { padded, step }, workgroups: [below, factors] });
}
