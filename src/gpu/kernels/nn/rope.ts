/**
 * Host for shaders/nn/rope.wgsl: rotate-half RoPE in place on x [T, heads, D], positions t mod S.
 * CPU reference: `applyRope` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/nn/rope.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const ropeKernel = defineKernel({ name: 'nn/rope', source });

export interface RopeArgs {
  x: GPUBuffer; // [T, heads, D], rotated in place
  cosSin: GPUBuffer; // [S, D/2] vec2 (cos, sin), see ropeCosSinTable
  tokens: number;
  heads: number;
  headDim: number;
  seqLen: number;
}

export function recordRope(rec: Recorder, a: RopeArgs): void {
  rec.dispatch(ropeKernel, {
    bindings: { cos_sin: a.cosSin, x: a.x },
    params: { tokens: a.tokens, heads: a.heads, head_dim: a.headDim, seq_len: a.seqLen },
    workgroups: grid1d((a.tokens * a.heads * a.headDim) / 2, 256),
  });
}

/**
 * cos/sin of pos * theta^(-2i/D) for pos < S, i < D/2, interleaved [S, D/2, 2], computed in f64 like the CPU
 * reference (transformers computes inv_freq and the angles in f32; the difference is ~1e-7 relative).
 */
export function ropeCosSinTable(seqLen: number, headDim: number, theta: number): Float32Array {
  const half = headDim / 2;
  const table = new Float32Array(seqLen * half * 2);
  for (let pos = 0; pos < seqLen; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = pos / theta ** ((2 * i) / headDim);
      table[(pos * half + i) * 2] = Math.cos(angle);
      table[(pos * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}
