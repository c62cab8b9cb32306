/**
 * Host for shaders/sparsegpt/hessian_prepare.wgsl: H' = reversed, padded, dampened 2/n S; dead-input flags.
 * CPU reference: `scaledHessian`, `inverseHessianFactor` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/hessian_prepare.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const hessianPrepareKernel = defineKernel({ name: 'sparsegpt/hessian_prepare', source });

export interface HessianPrepareArgs {
  hessian: BufferBinding; // S [F, C, C] f32 from element hessianBase
  hessianBase: number;
  scales: BufferBinding; // [F] f32: 2 / n_f, 0 for no tokens
  reversed: BufferBinding; // H' [F, Cp, Cp] f32
  dead: BufferBinding; // [F, C] u32
  factors: number; // F
  cols: number; // C
  padded: number; // Cp
  damp: number;
}

export function recordHessianPrepare(rec: Recorder, a: HessianPrepareArgs): void {
  rec.dispatch(hessianPrepareKernel, {
    bindings: { hessian: a.hessian, scales: a.scales, reversed: a.reversed, dead: a.dead },
    params: { cols: a.cols, padded: a.padded, damp: a.damp, hessian_base: a.hessianBase },
    workgroups: [a.padded / 32, a.factors],
  });
}
