/**
 * Host for shaders/moe/dispatch_count.wgsl: tokens routed to each expert, counts [E] u32.
 * CPU reference: `dispatchPlan` in src/engine/reference/moe/dispatch.ts.
 */
import source from '../../../../shaders/moe/dispatch_count.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const dispatchCountKernel = defineKernel({ name: 'moe/dispatch_count', source });

/** expertIds [T * K] u32 -> counts [E] u32. */
export function recordDispatchCount(rec: Recorder, expertIds: GPUBuffer, counts: GPUBuffer, assignments: number, experts: number): void {
  rec.dispatch(dispatchCountKernel, {
    bindings: { expert_ids: expertIds, counts },
    params: { assignments },
    workgroups: [experts],
  });
}
