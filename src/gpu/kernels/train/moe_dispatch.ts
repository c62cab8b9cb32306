/**
 * Host for shaders/train/moe_dispatch.wgsl: expert segments (8-aligned) and the row <-> assignment maps.
 * CPU reference: `expertRowMaps` in src/engine/reference/train/moe-dispatch.ts (the maps, bit for bit).
 */
import source from '../../../../shaders/train/moe_dispatch.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const moeDispatchKernels = {
  count: defineKernel({ name: 'train/moe-dispatch-count', source, entryPoint: 'count' }),
  place: defineKernel({ name: 'train/moe-dispatch-place', source, entryPoint: 'place' }),
};

/** Rows of the expert-row buffers: every assignment plus up to 7 padding rows per expert. */
export function expertRowCapacity(tokens: number, topK: number, experts: number): number {
  return tokens * topK + 8 * experts;
}

/** chosen [T, K] -> table [2E], rowSlot [R], slotRow [T, K]. */
export function recordMoeDispatch(
  rec: Recorder,
  shape: { tokens: number; topK: number; experts: number },
  chosen: GPUBuffer,
  table: GPUBuffer,
  rowSlot: GPUBuffer,
  slotRow: GPUBuffer,
): void {
  const params = {
    assignments: shape.tokens * shape.topK,
    experts: shape.experts,
    rows: expertRowCapacity(shape.tokens, shape.topK, shape.experts),
  };
  const bindings = { chosen, table, row_slot: rowSlot, slot_row: slotRow };
  const workgroups = [Math.ceil(shape.experts / 64)];
  rec.dispatch(moeDispatchKernels.count, { bindings, params, workgroups });
  rec.dispatch(moeDispatchKernels.place, { bindings, params, workgroups });
}
