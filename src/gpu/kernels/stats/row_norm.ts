/**
 * Host for shaders/stats/row_norm.wgsl: the L2 norm of each row (expert outputs, for REAP).
 * CPU reference: `segmentWeightedRowNorms` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/row_norm.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const rowNormKernel = defineKernel({ name: 'stats/row_norm', source });

export interface RowNormArgs {
  values: BufferBinding; // [R, rowStride] f32
  rows: number; // R
  width: number; // W
  rowStride?: number; // default W
  columnOffset?: number;
  norms: BufferBinding; // [R] f32 out
}

export function recordRowNorm(rec: Recorder, a: RowNormArgs): void {
  rec.dispatch(rowNormKernel, {
    bindings: { values: a.values, norms: a.norms },
    params: { rows: a.rows, width: a.width, row_stride: a.rowStride ?? a.width, column_offset: a.columnOffset ?? 0 },
    workgroups: grid1d(a.rows, 8),
  });
}
