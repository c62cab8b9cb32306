/**
 * Host for shaders/distill/expert_matmul.wgsl: the per-expert products of expert-wise training on expert rows.
 * CPU reference: `expertRowsMatmulReference`, `expertOuterReference` in src/engine/reference/distill/kernels.ts.
 */
import source from '../../../../shaders/distill/expert_matmul.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridRows } from '../../train/grid.ts';

export const expertMatmulKernels = {
  rows: defineKernel({ name: 'distill/expert-matmul-rows', source, entryPoint: 'rows' }),
  outer: defineKernel({ name: 'distill/expert-matmul-outer', source, entryPoint: 'outer' }),
};

/** Expert e's matrix inside a flat weight buffer: element (n, k) at offset + e * expert + n * n_ + k * k_. */
export interface ExpertWeights {
  buffer: GPUBuffer;
  offset: number;
  expert: number;
  n: number;
  k: number;
}

/** out [R, N] = a [R, K] . W_e^T per row (e = rowExpert[r]); 0 on rows of no expert. */
export function recordExpertRowsMatmul(
  rec: Recorder,
  shape: { rows: number; n: number; k: number; experts: number },
  a: GPUBuffer,
  w: ExpertWeights,
  rowExpert: GPUBuffer,
  out: GPUBuffer,
): void {
  rec.dispatch(expertMatmulKernels.rows, {
    bindings: { a, b: w.buffer, groups: rowExpert, out },
    params: { rows: shape.rows, n: shape.n, k: shape.k, experts: shape.experts, w_offset: w.offset, w_expert: w.expert, w_n: w.n, w_k: w.k },
    workgroups: gridRows(shape.n, shape.rows),
  });
}

/** out[offset + e M N ..] [E, M, N] = per expert, the sum over its rows of a[r, :M]^T b[r, :N] (table [2E]). */
export function recordExpertOuter(
  rec: Recorder,
  shape: { m: number; n: number; experts: number },
  a: GPUBuffer,
  b: GPUBuffer,
  table: GPUBuffer,
  out: GPUBuffer,
  offset: number,
): void {
  rec.dispatch(expertMatmulKernels.outer, {
    bindings: { a, b, groups: table, out },
    params: { rows: 0, n: shape.n, k: shape.m, experts: shape.experts, w_offset: offset, w_expert: shape.m * shape.n, w_n: 0, w_k: 0 },
    workgroups: gridRows(shape.n, shape.experts * shape.m),
  });
}
