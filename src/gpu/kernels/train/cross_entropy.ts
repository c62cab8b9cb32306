/**
 * Host for shaders/train/cross_entropy.wgsl: per-token NLL, dL/dlogits in place, and the step's mean loss.
 * CPU reference: `meanCrossEntropy` in src/engine/reference/train/ops.ts.
 */
import source from '../../../../shaders/train/cross_entropy.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const crossEntropyKernels = {
  main: defineKernel({ name: 'train/cross-entropy', source, entryPoint: 'main' }),
  total: defineKernel({ name: 'train/cross-entropy-total', source, entryPoint: 'total' }),
};

export interface CrossEntropyOptions {
  tokens: number; // T
  vocab: number; // V
  /** Multiplies the gradient and the total: 1 / tokens for the mean. */
  scale: number;
  /** false: losses only, logits untouched (evaluation). */
  gradient: boolean;
  /** Where the scaled total goes in `sums`. */
  slot: number;
}

/** logits [T, V] (-> dL/dz when o.gradient), targets [T] u32 -> loss [T], sums[slot] = scale * sum(loss). */
export function recordCrossEntropy(rec: Recorder, o: CrossEntropyOptions, logits: GPUBuffer, targets: GPUBuffer, loss: GPUBuffer, sums: GPUBuffer): void {
  const params = { tokens: o.tokens, vocab: o.vocab, scale: o.scale, slot: o.slot };
  const bindings = { targets, logits, loss, sums };
  rec.dispatch(crossEntropyKernels.main, { bindings, params, constants: { WRITE_GRADIENT: o.gradient }, workgroups: gridFlat(o.tokens) });
  rec.dispatch(crossEntropyKernels.total, { bindings, params, workgroups: [1] });
}
