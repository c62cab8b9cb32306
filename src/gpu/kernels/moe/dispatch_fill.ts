/**
 * Host for shaders/moe/dispatch_fill.wgsl: the gathered row order (sorted_rows) and its inverse (row_of_slot).
 * CPU reference: `dispatchPlan` in src/engine/reference/moe/dispatch.ts.
 */
import source from '../../../../shaders/moe/dispatch_fill.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { type DispatchBuffers, tokenBitmapWords } from './dispatch_count.ts';

export const dispatchFillKernel = defineKernel({ name: 'moe/dispatch_fill', source });

/** Row index of an empty slot in rowOfSlot. */
export const NO_ROW = 0xffffffff;

/**
 * The token bitmaps of moe/dispatch_count and offsets [E + 1] (moe/dispatch_plan) -> sortedRows [T * K] (assignment
 * per row) and rowOfSlot [T * K].
 */
export function recordDispatchFill(rec: Recorder, a: Omit<DispatchBuffers, 'counts'> & { offsets: GPUBuffer; sortedRows: GPUBuffer }): void {
  rec.dispatch(dispatchFillKernel, {
    bindings: { expert_ids: a.expertIds, offsets: a.offsets, token_bits: a.tokenBits, sorted_rows: a.sortedRows, row_of_slot: a.rowOfSlot },
    params: { top_k: a.topK, words: tokenBitmapWords(a.tokens) },
    workgroups: [a.experts],
  });
}
