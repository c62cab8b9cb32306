/**
 * Host for shaders/stats/routing_counts.wgsl: expert tokens, gate sums and co-activation added to totals.
 * CPU reference: `routingCounts` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/routing_counts.wgsl';
import { GpuError } from '../../errors.ts';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const routingCountsKernel = defineKernel({ name: 'stats/routing_counts', source });

/** The co-activation row of one expert lives in workgroup memory (CO_ROW in the shader, at most this). */
export const ROUTING_COUNTS_MAX_EXPERTS = 1024;

/** CO_ROW for E experts: E rounded up to a multiple of 32 (few pipeline variants, no more memory than needed). */
export function coactivationRow(experts: number): number {
  return Math.max(32, Math.ceil(experts / 32) * 32);
}

export interface RoutingCountsArgs {
  expertIds: BufferBinding; // [T, K] u32
  gates: BufferBinding; // [T, K] f32
  tokens: number; // T
  topK: number; // K
  experts: number; // E
  expertTokens: BufferBinding; // [E] u32 running
  expertGateSum: BufferBinding; // [E] f32 running
  coactivation: BufferBinding; // [E, E] u32 running
}

export function recordRoutingCounts(rec: Recorder, a: RoutingCountsArgs): void {
  if (a.experts > ROUTING_COUNTS_MAX_EXPERTS) {
    throw new GpuError('limits', `routing statistics support at most ${ROUTING_COUNTS_MAX_EXPERTS} experts per layer (this model has ${a.experts})`);
  }
  rec.dispatch(routingCountsKernel, {
    bindings: {
      expert_ids: a.expertIds,
      gates: a.gates,
      expert_tokens: a.expertTokens,
      expert_gate_sum: a.expertGateSum,
      coactivation: a.coactivation,
    },
    params: { tokens: a.tokens, top_k: a.topK, experts: a.experts },
    constants: { CO_ROW: coactivationRow(a.experts) },
    workgroups: [a.experts],
  });
}
