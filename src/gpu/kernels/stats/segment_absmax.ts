/**
 * Host for shaders/stats/segment_absmax.wgsl: per-segment max |value| folded into running maxima (super experts).
 * CPU reference: `segmentAbsMax` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/segment_absmax.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const segmentAbsMaxKernel = defineKernel({ name: 'stats/segment_absmax', source });

export interface SegmentAbsMaxArgs {
  values: BufferBinding; // [R, rowStride] f32, rows grouped by segment
  width: number; // W
  rowStride?: number; // default W
  offsets: BufferBinding; // [S + 1] u32
  segments: number; // S
  totals: BufferBinding; // [S] f32 running maxima
}

export function recordSegmentAbsMax(rec: Recorder, a: SegmentAbsMaxArgs): void {
  rec.dispatch(segmentAbsMaxKernel, {
    bindings: { values: a.values, offsets: a.offsets, totals: a.totals },
    params: { width: a.width, row_stride: a.rowStride ?? a.width },
    workgroups: [a.segments],
  });
}
