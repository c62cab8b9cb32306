/**
 * Host for shaders/stats/router_health.wgsl: per-token router entropy and top-1/top-2 margin, with histograms.
 * CPU reference: `routerHealthOfLogits` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/router_health.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const routerHealthKernel = defineKernel({ name: 'stats/router_health', source });

export interface RouterHealthArgs {
  routerLogits: BufferBinding; // [T, E] f32
  enabled: BufferBinding; // [E] u32, 0 = expert dropped (left out of the softmax)
  tokens: number; // T
  experts: number; // E
  tokenEntropy: BufferBinding; // [T] f32 out
  tokenMargin: BufferBinding; // [T] f32 out
  histograms: BufferBinding; // [2, bins] u32 running: entropy over [0, ln E], margin over [0, 1]
  bins: number;
}

export function recordRouterHealth(rec: Recorder, a: RouterHealthArgs): void {
  if (a.bins < 1 || a.bins > 256) throw new Error(`router_health: bins must be in 1..256 (got ${a.bins})`);
  rec.dispatch(routerHealthKernel, {
    bindings: { router_logits: a.routerLogits, enabled: a.enabled, token_entropy: a.tokenEntropy, token_margin: a.tokenMargin, histograms: a.histograms },
    params: { tokens: a.tokens, experts: a.experts, entropy_max: Math.log(a.experts) },
    constants: { BINS: a.bins },
    workgroups: grid1d(a.tokens, 256),
  });
}
