/**
 * Host for shaders/train/matmul.wgsl: C = alpha * A . B (+ C), every operand addressed through strides.
 * CPU reference: `referenceMatmul` in src/engine/reference/train/matmul.ts.
 */
import source from '../../../../shaders/train/matmul.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

/** Two entry points: A read along k (a.col === 1) or along m (see the shader's header). */
export const matmulKernels = {
  k: defineKernel({ name: 'train/matmul-k', source, entryPoint: 'main_k' }),
  m: defineKernel({ name: 'train/matmul-m', source, entryPoint: 'main_m' }),
};

const ROWS = 8;

/** Invocations per workgroup for an output N columns wide: the widest tile (2 x lanes columns) that wastes at most
 * 1/8 of its columns, down to one subgroup of 8. */
export function matmulLanes(N: number): number {
  let lanes = 64;
  while (lanes > 8 && Math.ceil(N / (2 * lanes)) * 2 * lanes - N > N / 8) lanes /= 2;
  return lanes;
}

/** A strided view of a matrix in a flat f32 buffer: element (r, c) at offset + r * row + c * col (+ batch terms). */
export interface MatrixView {
  buffer: GPUBuffer;
  offset?: number;
  row: number;
  col: number;
  /** Batch strides: z = outer * batchInner + inner. In grouped modes `outer` is the per-expert stride. */
  outer?: number;
  inner?: number;
}

/** Row-major [rows, cols] at element `offset`. */
export function rowMajor(buffer: GPUBuffer, cols: number, offset = 0): MatrixView {
  return { buffer, offset, row: cols, col: 1 };
}

/** The transpose of a row-major [rows, cols] matrix: element (i, j) is stored at j * cols + i. */
export function transposed(buffer: GPUBuffer, cols: number, offset = 0): MatrixView {
  return { buffer, offset, row: 1, col: cols };
}

export type CausalMode = 'none' | 'skip-upper-tiles' | 'k-up-to-m' | 'k-from-m';
const CAUSAL_CODE: Record<CausalMode, number> = { none: 0, 'skip-upper-tiles': 1, 'k-up-to-m': 2, 'k-from-m': 3 };

export interface MatmulOptions {
  M: number;
  N: number;
  K: number;
  a: MatrixView;
  b: MatrixView;
  c: MatrixView;
  alpha?: number;
  accumulate?: boolean;
  /** Plain batches: count = outer x inner (attention: windows x heads). */
  batch?: { outer: number; inner: number };
  causal?: CausalMode;
  /**
   * Experts' padded row segments (see moe_dispatch.wgsl): 'rows' = M runs over the concatenated segments (M is
   * their padded capacity), B is per expert; 'reduction' = K runs over each expert's rows, C is per expert.
   */
  grouped?: { mode: 'rows' | 'reduction'; groups: GPUBuffer; experts: number };
}

export function recordMatmul(rec: Recorder, o: MatmulOptions): void {
  const batchOuter = o.batch?.outer ?? 1;
  const batchInner = o.batch?.inner ?? 1;
  const z = o.grouped?.mode === 'reduction' ? o.grouped.experts : batchOuter * batchInner;
  const kernel = o.a.col === 1 || o.a.row !== 1 ? matmulKernels.k : matmulKernels.m;
  const lanes = matmulLanes(o.N);
  rec.dispatch(kernel, {
    bindings: { a: o.a.buffer, b: o.b.buffer, c: o.c.buffer, groups: o.grouped?.groups ?? o.a.buffer },
    params: {
      M: o.M,
      N: o.N,
      K: o.K,
      batch_inner: batchInner,
      a_offset: o.a.offset ?? 0,
      a_row: o.a.row,
      a_col: o.a.col,
      a_outer: o.a.outer ?? 0,
      a_inner: o.a.inner ?? 0,
      b_offset: o.b.offset ?? 0,
      b_row: o.b.row,
      b_col: o.b.col,
      b_outer: o.b.outer ?? 0,
      b_inner: o.b.inner ?? 0,
      c_offset: o.c.offset ?? 0,
      c_row: o.c.row,
      c_col: o.c.col,
      c_outer: o.c.outer ?? 0,
      c_inner: o.c.inner ?? 0,
      alpha: o.alpha ?? 1,
    },
    constants: {
      ACCUMULATE: o.accumulate ?? false,
      GROUP_MODE: o.grouped ? (o.grouped.mode === 'rows' ? 1 : 2) : 0,
      CAUSAL: CAUSAL_CODE[o.causal ?? 'none'],
      NUM_GROUPS: o.grouped?.experts ?? 1,
      LANES: lanes,
    },
    workgroups: [Math.ceil(o.M / ROWS), Math.ceil(o.N / (2 * lanes)), z],
    label: 'train/matmul',
  });
}

/** Multiply-adds of one product (for GFLOP/s accounting; causal halves are not subtracted). */
export function matmulFlops(M: number, N: number, K: number, batch = 1): number {
  return 2 * M * N * K * batch;
}
