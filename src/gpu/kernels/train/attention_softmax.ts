/**
 * Host for shaders/train/attention_softmax.wgsl: causal row softmax over scores, and its backward, in place.
 * CPU reference: `causalAttention` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/train/attention_softmax.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const attentionSoftmaxKernels = {
  forward: defineKernel({ name: 'train/attention-softmax-forward', source, entryPoint: 'forward' }),
  backward: defineKernel({ name: 'train/attention-softmax-backward', source, entryPoint: 'backward' }),
};

/** scores [rows / S, S, S] -> P in place (rows = windows * heads * S). `unused` fills the backward-only binding. */
export function recordAttentionSoftmax(rec: Recorder, rows: number, window: number, scores: GPUBuffer, unused: GPUBuffer): void {
  rec.dispatch(attentionSoftmaxKernels.forward, { bindings: { probs: unused, values: scores }, params: { rows, window }, workgroups: gridFlat(rows) });
}

/** dP -> dS in place, given P. */
export function recordAttentionSoftmaxBackward(rec: Recorder, rows: number, window: number, probs: GPUBuffer, dProbs: GPUBuffer): void {
  rec.dispatch(attentionSoftmaxKernels.backward, { bindings: { probs, values: dProbs }, params: { rows, window }, workgroups: gridFlat(rows) });
}
