/**
 * Host for shaders/moe/dispatch_plan.wgsl: per-expert row offsets and the grouped GEMMs' tile list.
 * CPU reference: `dispatchPlan` in src/engine/reference/moe/dispatch.ts.
 */
import source from '../../../../shaders/moe/dispatch_plan.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { GEMM_TILE } from '../nn/matmul.ts';

export const dispatchPlanKernel = defineKernel({ name: 'moe/dispatch_plan', source });

/** Most tiles the plan can list for `assignments` routed rows over `experts` experts (one partial tile each). */
export function maxExpertTiles(assignments: number, experts: number): number {
  return Math.ceil(assignments / GEMM_TILE) + experts;
}

/** counts [E] -> offsets [E + 1] u32 and tiles [1 + 2 * maxExpertTiles] u32. */
export function recordDispatchPlan(rec: Recorder, counts: GPUBuffer, offsets: GPUBuffer, tiles: GPUBuffer, experts: number): void {
  rec.dispatch(dispatchPlanKernel, {
    bindings: { counts, offsets, tiles },
    params: { experts },
    constants: { TILE_ROWS: GEMM_TILE },
    workgroups: [1],
  });
}
