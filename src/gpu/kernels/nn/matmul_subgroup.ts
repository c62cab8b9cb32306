/**
 * Host for shaders/nn/matmul_subgroup.wgsl, nn/matmul on subgroups: y [M, N] = clip(scale * (x [M, K] . W [N, K]^T + bias)).
 * `recordMatmul` (nn/matmul.ts) dispatches it on devices whose GpuContext.matrixKernels is 'subgroup'; this file
 * holds the kernel and the shape constants the three subgroup matrix kernels share (nn/gemm_subgroup.wgsl).
 * CPU reference: `linear` in src/engine/reference/ops.ts.
 */
import gemmSubgroup from '../../../../shaders/nn/gemm_subgroup.wgsl';
import matmulBindings from '../../../../shaders/nn/matmul_bindings.wgsl';
import source from '../../../../shaders/nn/matmul_subgroup.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { WEIGHTS_WGSL } from '../../weights.ts';

/** gemm_subgroup.wgsl goes first: it carries the `enable subgroups` directive. */
export const GEMM_SUBGROUP_INCLUDE = [gemmSubgroup, WEIGHTS_WGSL];

export const matmulSubgroupKernel = defineKernel({ name: 'nn/matmul_subgroup', source, include: [...GEMM_SUBGROUP_INCLUDE, matmulBindings] });

/** Most invocations per workgroup of the subgroup matrix kernels; each owns two output columns. */
const MAX_LANES = 64;

/**
 * Override constants of a subgroup matrix kernel: LANES, the invocations per workgroup (a multiple of 8, no more
 * than the `columns` / 2 the output needs, so narrow outputs such as the router's E columns waste little), PAIRED
 * (K even: two k per weight word), TILE_M (rows per workgroup, `rowTile`) and SG_STEP (the device's step along k,
 * Recorder.subgroupStep).
 */
export function subgroupShape(
  rec: Recorder,
  columns: number,
  inner: number,
  rowTile: number,
): { LANES: number; PAIRED: boolean; TILE_M: number; SG_STEP: number } {
  const lanes = Math.min(MAX_LANES, Math.ceil(columns / 2 / 8) * 8);
  return { LANES: lanes, PAIRED: inner % 2 === 0, TILE_M: rowTile, SG_STEP: rec.subgroupStep };
}
