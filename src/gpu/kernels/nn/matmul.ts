/**
 * Host for shaders/nn/matmul.wgsl: y [M, N] = clip(scale * (x [M, K] . W [N, K]^T + bias)). On devices whose
 * GpuContext.matrixKernels is 'subgroup', recordMatmul dispatches nn/matmul_subgroup instead (same bindings, same result).
 * CPU reference: `linear` in src/engine/reference/ops.ts.
 */
import gemmTile from '../../../../shaders/nn/gemm_tile.wgsl';
import source from '../../../../shaders/nn/matmul.wgsl';
import matmulBindings from '../../../../shaders/nn/matmul_bindings.wgsl';
import type { WeightDtype } from '../../../engine/model/spec.ts';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';
import { matmulSubgroupKernel, subgroupShape } from './matmul_subgroup.ts';

export const matmulKernel = defineKernel({ name: 'nn/matmul', source, include: [WEIGHTS_WGSL, gemmTile, matmulBindings] });

/** Output tile of the matrix kernels (shaders/nn/gemm_tile.wgsl). */
export const GEMM_TILE = 64;

/** A weight matrix on the GPU in its stored dtype, with an optional keep-mask over its flat row-major index. */
export interface WeightOperand {
  buffer: GPUBuffer;
  dtype: WeightDtype;
  mask?: GPUBuffer | null;
}

export interface MatmulArgs {
  x: GPUBuffer; // [xRowOffset + M, K] f32
  weight: WeightOperand; // [N, K]
  bias?: GPUBuffer | null; // [N] f32
  y: GPUBuffer; // [M, N] f32
  rows: number; // M
  cols: number; // N
  inner: number; // K
  xRowOffset?: number;
  scale?: number;
  /** Clamp the result to [-clip, clip] (OLMoE clip_qkv). */
  clip?: number | null;
  label?: string;
}

export function recordMatmul(rec: Recorder, a: MatmulArgs): void {
  const clip = a.clip ?? null;
  const constants = {
    WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[a.weight.dtype],
    HAS_BIAS: Boolean(a.bias),
    HAS_MASK: Boolean(a.weight.mask),
    CLIP: clip !== null,
  };
  const common = {
    // Absent bias/mask bindings are filled with read-only buffers the shader never reads (overrides off).
    bindings: { x: a.x, weight: a.weight.buffer, keep_mask: a.weight.mask ?? a.weight.buffer, bias: a.bias ?? a.x, y: a.y },
    params: { rows: a.rows, cols: a.cols, inner: a.inner, x_row_offset: a.xRowOffset ?? 0, scale: a.scale ?? 1, clip: clip ?? 0 },
    label: a.label,
  };
  if (rec.matrixKernels === 'subgroup') {
    const shape = subgroupShape(rec, a.cols, a.inner, GEMM_TILE);
    rec.dispatch(matmulSubgroupKernel, {
      ...common,
      constants: { ...constants, ...shape },
      workgroups: [Math.ceil(a.cols / (2 * shape.LANES)), Math.ceil(a.rows / GEMM_TILE)],
    });
    return;
  }
  rec.dispatch(matmulKernel, { ...common, constants, workgroups: [Math.ceil(a.cols / GEMM_TILE), Math.ceil(a.rows / GEMM_TILE)] });
}
