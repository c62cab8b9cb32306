/** Host for shaders/distill/router_mask.wgsl: dropped experts' router logits set to -1e30 before routing. */
import source from '../../../../shaders/distill/router_mask.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const routerMaskKernel = defineKernel({ name: 'distill/router-mask', source });

/** logits [T, E]: entries of experts with enabled[e] = 0 ([E] u32) become -1e30. */
export function recordRouterMask(rec: Recorder, tokens: number, experts: number, enabled: GPUBuffer, logits: GPUBuffer): void {
  rec.dispatch(routerMaskKernel, { bindings: { enabled, logits }, params: { tokens, experts }, workgroups: gridFlat(tokens * experts) });
}
