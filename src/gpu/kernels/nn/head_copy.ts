/**
 * Host for shaders/nn/head_copy.wgsl: a strided copy of a slice of each head (MLA's latent, k_nope, v, the
 * broadcast rope key and the attention output's v part).
 * CPU reference: `headCopy` in src/engine/reference/nn/head-copy.ts.
 */
import source from '../../../../shaders/nn/head_copy.wgsl';
import type { HeadCopyLayout } from '../../../engine/reference/nn/head-copy.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const headCopyKernel = defineKernel({ name: 'nn/head_copy', source });

export function recordHeadCopy(rec: Recorder, src: GPUBuffer, dst: GPUBuffer, a: HeadCopyLayout): void {
  rec.dispatch(headCopyKernel, {
    bindings: { src, dst },
    params: {
      tokens: a.tokens,
      heads: a.heads,
      width: a.width,
      in_token_stride: a.inTokenStride,
      in_head_stride: a.inHeadStride,
      in_offset: a.inOffset,
      out_token_stride: a.outTokenStride,
      out_head_stride: a.outHeadStride,
      out_offset: a.outOffset,
    },
    workgroups: grid1d(a.tokens * a.heads * a.width, 256),
  });
}
