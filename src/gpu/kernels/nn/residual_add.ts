/**
 * Host for shaders/nn/residual_add.wgsl: out = x + multiplier * branch.
 * CPU reference: `residualAddReference` in src/engine/reference/nn/elementwise.ts.
 */
import source from '../../../../shaders/nn/residual_add.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const residualAddKernel = defineKernel({ name: 'nn/residual_add', source });

/** x, branch, out: [T, H] f32 flattened to `count`; out may alias neither input. */
export function recordResidualAdd(rec: Recorder, x: GPUBuffer, branch: GPUBuffer, out: GPUBuffer, count: number, multiplier = 1): void {
  rec.dispatch(residualAddKernel, {
    bindings: { x, branch, out },
    params: { count, multiplier },
    workgroups: grid1d(count, 256),
  });
}
