/**
 * Host for shaders/train/router.wgsl: softmax -> top-K (-> renormalize, Mixtral; or not, Qwen-MoE), its backward with the
 * load-balancing term, and the per-step routing statistics.
 * CPU reference: `routeTokens` in src/engine/reference/train/ops.ts.
 */
import source from '../../../../shaders/train/router.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const routerKernels = {
  forward: defineKernel({ name: 'train/router-forward', source, entryPoint: 'forward' }),
  backward: defineKernel({ name: 'train/router-backward', source, entryPoint: 'backward' }),
  stats: defineKernel({ name: 'train/router-stats', source, entryPoint: 'stats' }),
};

export interface RouterShape {
  tokens: number; // T
  experts: number; // E (at most 64)
  topK: number; // K
  /** Gates renormalized over the top K (Mixtral) or the plain probabilities (norm_topk_prob = false). */
  renormalize: boolean;
}

const params = (s: RouterShape, auxScale = 0, statsOffset = 0) => ({
  tokens: s.tokens,
  experts: s.experts,
  top_k: s.topK,
  aux_scale: auxScale,
  stats_offset: statsOffset,
  renormalize: s.renormalize ? 1 : 0,
});

/** logits [T, E] -> probs [T, E], chosen [T, K] (u32), gates [T, K]. `table` is any buffer here (unused). */
export function recordRouterForward(
  rec: Recorder,
  s: RouterShape,
  logits: GPUBuffer,
  table: GPUBuffer,
  probs: GPUBuffer,
  chosen: GPUBuffer,
  gates: GPUBuffer,
): void {
  rec.dispatch(routerKernels.forward, { bindings: { input: logits, table, probs, chosen, output: gates }, params: params(s), workgroups: gridFlat(s.tokens) });
}

/** dGates [T, K] -> dLogits [T, E], adding auxScale * d(load-balancing loss); table = the layer's dispatch table. */
export function recordRouterBackward(
  rec: Recorder,
  s: RouterShape,
  auxScale: number,
  dGates: GPUBuffer,
  table: GPUBuffer,
  probs: GPUBuffer,
  chosen: GPUBuffer,
  dLogits: GPUBuffer,
): void {
  rec.dispatch(routerKernels.backward, {
    bindings: { input: dGates, table, probs, chosen, output: dLogits },
    params: params(s, auxScale),
    workgroups: gridFlat(s.tokens),
  });
}

/** stats[offset ..] = P_e [E] then assignment counts [E] (f32). `unused` fills the input binding. */
export function recordRouterStats(
  rec: Recorder,
  s: RouterShape,
  table: GPUBuffer,
  probs: GPUBuffer,
  chosen: GPUBuffer,
  stats: GPUBuffer,
  offset: number,
  unused: GPUBuffer,
): void {
  rec.dispatch(routerKernels.stats, {
    bindings: { input: unused, table, probs, chosen, output: stats },
    params: params(s, 0, offset),
    workgroups: gridFlat(s.experts),
  });
}
