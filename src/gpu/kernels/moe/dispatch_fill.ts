/**
 * Host for shaders/moe/dispatch_fill.wgsl: the gathered row order (sorted_rows) and its inverse (row_of_slot).
 * CPU reference: `dispatchPlan` in src/engine/reference/moe/dispatch.ts.
 */
import source from '../../../../shaders/moe/dispatch_fill.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const dispatchFillKernel = defineKernel({ name: 'moe/dispatch_fill', source });

/** Row index of an empty slot in rowOfSlot. */
export const NO_ROW = 0xffffffff;

/** expertIds [T * K], offsets [E + 1] -> sortedRows [T * K] (assignment per row), rowOfSlot [T * K]. */
export function recordDispatchFill(
  rec: Recorder,
  expertIds: GPUBuffer,
  offsets: GPUBuffer,
  sortedRows: GPUBuffer,
  rowOfSlot: GPUBuffer,
  assignments: number,
  experts: number,
): void {
  rec.dispatch(dispatchFillKernel, {
    bindings: { expert_ids: expertIds, offsets, sorted_rows: sortedRows, row_of_slot: rowOfSlot },
    params: { assignments },
    workgroups: [experts],
  });
}
