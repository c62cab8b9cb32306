/**
 * Host for shaders/stats/row_norm.wgsl: the L2 norm of each row (expert outputs, for REAP).
 * CPU reference: `segmentWeightedRowNorms` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/row_norm.wgsl';
import { forDevice } from '../../capabilities.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const rowNormKernel = defineKernel({ name: 'stats/row_norm', source });

/**
 * Lanes per row (LANES in row_norm.wgsl): a GPU sums a row over 32 lanes and a tree, a CPU driver in one invocation
 * with no barrier. The sums' order differs, so the norms differ between the two in the last bits.
 */
export const ROW_NORM_LANES = { gpu: 32, software: 1 } as const;

/** Invocations per workgroup of row_norm.wgsl (WORKGROUP). */
const ROW_NORM_WORKGROUP = 256;

export interface RowNormArgs {
  values: BufferBinding; // [R, rowStride] f32
  rows: number; // R
  width: number; // W
  rowStride?: number; // default W
  columnOffset?: number;
  norms: BufferBinding; // [R] f32 out
  /** Lanes per row; by default the device's (ROW_NORM_LANES). */
  lanes?: number;
}

export function recordRowNorm(rec: Recorder, a: RowNormArgs): void {
  const lanes = a.lanes ?? forDevice(ROW_NORM_LANES, rec.softwareAdapter);
  rec.dispatch(rowNormKernel, {
    bindings: { values: a.values, norms: a.norms },
    params: { rows: a.rows, width: a.width, row_stride: a.rowStride ?? a.width, column_offset: a.columnOffset ?? 0 },
    constants: { LANES: lanes },
    workgroups: grid1d(a.rows, ROW_NORM_WORKGROUP / lanes),
  });
}
