/**
 * Host for shaders/train/swiglu.wgsl: act = silu(g) * u on expert rows, and its backward.
 * CPU reference: `swigluRows` in src/engine/reference/train/ops.ts.
 */
import source from '../../../../shaders/train/swiglu.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const swigluKernels = {
  forward: defineKernel({ name: 'train/swiglu-forward', source, entryPoint: 'forward' }),
  backward: defineKernel({ name: 'train/swiglu-backward', source, entryPoint: 'backward' }),
};

/** gu [R, 2I] -> act [R, I]. `unused` fills the backward-only binding. */
export function recordSwiGluForward(rec: Recorder, rows: number, width: number, gu: GPUBuffer, act: GPUBuffer, unused: GPUBuffer): void {
  rec.dispatch(swigluKernels.forward, {
    bindings: { gu, d_act: unused, out: act },
    params: { count: rows * width, width },
    workgroups: gridFlat(rows * width),
  });
}

/** dAct [R, I] -> dGu [R, 2I]. */
export function recordSwiGluBackward(rec: Recorder, rows: number, width: number, gu: GPUBuffer, dAct: GPUBuffer, dGu: GPUBuffer): void {
  rec.dispatch(swigluKernels.backward, { bindings: { gu, d_act: dAct, out: dGu }, params: { count: rows * width, width }, workgroups: gridFlat(rows * width) });
}
