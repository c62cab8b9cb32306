/**
 * Host for shaders/train/rope.wgsl: RoPE in place on q|k of [T, 3H] (+ k^T, v^T copies), and its inverse.
 * CPU reference: `applyRope` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/train/rope.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat } from '../../train/grid.ts';

export const ropeKernels = {
  forward: defineKernel({ name: 'train/rope-forward', source, entryPoint: 'forward' }),
  backward: defineKernel({ name: 'train/rope-backward', source, entryPoint: 'backward' }),
};

export interface RopeShape {
  tokens: number; // T
  window: number; // S
  heads: number;
  headDim: number; // D
}

const params = (s: RopeShape) => ({ tokens: s.tokens, window: s.window, heads: s.heads, head_dim: s.headDim });
const sites = (s: RopeShape) => gridFlat((s.tokens * s.heads * s.headDim) / 2);

/** table: [S, D/2, 2] cos/sin (see ropeTable in src/engine/train/rope-table.ts). */
export function recordRopeForward(rec: Recorder, s: RopeShape, table: GPUBuffer, qkv: GPUBuffer, kT: GPUBuffer, vT: GPUBuffer): void {
  rec.dispatch(ropeKernels.forward, { bindings: { table, qkv, k_t: kT, v_t: vT }, params: params(s), workgroups: sites(s) });
}

/** d qkv [T, 3H]: rotates dq and dk back in place. kT/vT are bound but not touched. */
export function recordRopeBackward(rec: Recorder, s: RopeShape, table: GPUBuffer, dQkv: GPUBuffer, kT: GPUBuffer, vT: GPUBuffer): void {
  rec.dispatch(ropeKernels.backward, { bindings: { table, qkv: dQkv, k_t: kT, v_t: vT }, params: params(s), workgroups: sites(s) });
}
