/**
 * Host for shaders/stats/segment_sum.wgsl: per-segment sums of g * value (or of value, `gated: false`) added to running totals.
 * CPU reference: `segmentWeightedRowNorms` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/segment_sum.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const segmentSumKernel = defineKernel({ name: 'stats/segment_sum', source });

export interface SegmentSumArgs {
  value: BufferBinding; // [R] f32
  rowSlot: BufferBinding; // [R] u32 assignment t * K + k of each gathered row
  gates: BufferBinding; // [T * K] f32
  offsets: BufferBinding; // [S + 1] u32
  segments: number; // S
  totals: BufferBinding; // [S] f32 running
  /** false: plain sums of value (EAN); default true: g * value (REAP). */
  gated?: boolean;
}

export function recordSegmentSum(rec: Recorder, a: SegmentSumArgs): void {
  rec.dispatch(segmentSumKernel, {
    bindings: { value: a.value, row_slot: a.rowSlot, gates: a.gates, offsets: a.offsets, totals: a.totals },
    constants: { GATED: a.gated ?? true },
    workgroups: [a.segments],
  });
}
