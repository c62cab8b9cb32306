/**
 * Host for shaders/nn/rope.wgsl: RoPE in place on part of each head of x [T, heads, stride], positions t mod S.
 * CPU reference: `applyRotary` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/nn/rope.wgsl';
import type { RopeFrequencies } from '../../../engine/model/rope.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const ropeKernel = defineKernel({ name: 'nn/rope', source });

export interface RopeArgs {
  x: GPUBuffer; // [T, heads, stride], rotated in place
  cosSin: GPUBuffer; // [S, rotaryDim/2] vec2 (cos, sin), see ropeCosSinTable
  tokens: number;
  heads: number;
  headDim: number; // the row stride of one head
  seqLen: number;
  /** Dims that rotate (default headDim) and where they start in a head (default 0). */
  rotaryDim?: number;
  offset?: number;
  pairs?: 'half' | 'interleaved';
}

export function recordRope(rec: Recorder, a: RopeArgs): void {
  const half = (a.rotaryDim ?? a.headDim) / 2;
  rec.dispatch(ropeKernel, {
    bindings: { cos_sin: a.cosSin, x: a.x },
    params: { tokens: a.tokens, heads: a.heads, stride: a.headDim, seq_len: a.seqLen, offset: a.offset ?? 0, half },
    constants: { INTERLEAVED: a.pairs === 'interleaved' },
    workgroups: grid1d(a.tokens * a.heads * half, 256),
  });
}

/**
 * cos/sin of pos * invFreq[i] (times YaRN's attention factor) for pos < S, interleaved [S, d/2, 2], computed in
 * f64 like the CPU reference (transformers computes inv_freq and the angles in f32; the difference is ~1e-7
 * relative). `freqs` from ropeFrequencies (src/engine/model/rope.ts).
 */
export function ropeCosSinTable(seqLen: number, freqs: RopeFrequencies): Float32Array {
  const { invFreq, attentionFactor } = freqs;
  const half = invFreq.length;
  const table = new Float32Array(seqLen * half * 2);
  for (let pos = 0; pos < seqLen; pos++) {
    for (let i = 0; i < half; i++) {
      const angle = pos * invFreq[i];
      table[(pos * half + i) * 2] = Math.cos(angle) * attentionFactor;
      table[(pos * half + i) * 2 + 1] = Math.sin(angle) * attentionFactor;
    }
  }
  return table;
}
