/**
 * Host for shaders/moe/expert_down_subgroup.wgsl, moe/expert_down on subgroups: expertOut [rows, H] = inter [rows, I]
 * . down_e^T, per expert. `recordExpertDown` (expert_down.ts) dispatches it on devices whose
 * GpuContext.matrixKernels is 'subgroup'. CPU reference: `swiglu` in src/engine/reference/ops.ts.
 */
import groupedTile from '../../../../shaders/moe/grouped_tile.wgsl';
import downBindings from '../../../../shaders/moe/expert_down_bindings.wgsl';
import source from '../../../../shaders/moe/expert_down_subgroup.wgsl';
import { defineKernel } from '../../kernel.ts';
import { GEMM_SUBGROUP_INCLUDE } from '../nn/matmul_subgroup.ts';

export const expertDownSubgroupKernel = defineKernel({
  name: 'moe/expert_down_subgroup',
  source,
  include: [...GEMM_SUBGROUP_INCLUDE, groupedTile, downBindings],
});
