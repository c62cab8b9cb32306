/**
 * Host for shaders/moe/expert_gate_up_subgroup.wgsl, moe/expert_gate_up on subgroups: inter [rows, I] =
 * swiglu(x W_gate^T, x W_up^T), per expert. `recordExpertGateUp` (expert_gate_up.ts) dispatches it on devices whose
 * GpuContext.matrixKernels is 'subgroup'. CPU reference: `swiglu` in src/engine/reference/ops.ts.
 */
import groupedTile from '../../../../shaders/moe/grouped_tile.wgsl';
import swigluWgsl from '../../../../shaders/moe/swiglu.wgsl';
import gateUpBindings from '../../../../shaders/moe/expert_gate_up_bindings.wgsl';
import source from '../../../../shaders/moe/expert_gate_up_subgroup.wgsl';
import { defineKernel } from '../../kernel.ts';
import { GEMM_SUBGROUP_INCLUDE } from '../nn/matmul_subgroup.ts';

export const expertGateUpSubgroupKernel = defineKernel({
  name: 'moe/expert_gate_up_subgroup',
  source,
  include: [...GEMM_SUBGROUP_INCLUDE, groupedTile, gateUpBindings, swigluWgsl],
});
