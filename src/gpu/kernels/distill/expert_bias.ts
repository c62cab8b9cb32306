/**
 * Host for shaders/distill/expert_bias.wgsl: each expert row plus its expert's bias, in place.
 * CPU reference: `expertBiasReference` in src/engine/reference/distill/kernels.ts.
 */
import source from '../../../../shaders/distill/expert_bias.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridRows } from '../../train/grid.ts';

export const expertBiasKernel = defineKernel({ name: 'distill/expert-bias', source });

/** y [R, N] += bias[offset + e N ..] on the rows of each expert e (rowExpert [R]). */
export function recordExpertBias(rec: Recorder, shape: { rows: number; n: number }, bias: GPUBuffer, offset: number, rowExpert: GPUBuffer, y: GPUBuffer): void {
  rec.dispatch(expertBiasKernel, {
    bindings: { bias, row_expert: rowExpert, y },
    params: { rows: shape.rows, n: shape.n, offset },
    workgroups: gridRows(shape.n, shape.rows),
  });
}
