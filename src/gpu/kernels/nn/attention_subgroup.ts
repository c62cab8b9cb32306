/**
 * Host for shaders/nn/attention_subgroup.wgsl, nn/attention on subgroups of 8 for CPU drivers: causal GQA with the
 * sliding window and sinks. `recordAttention` (attention.ts) dispatches it where GpuContext.matrix.attention is set.
 * CPU reference: `causalAttention` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/nn/attention_subgroup.wgsl';
import { defineKernel } from '../../kernel.ts';
import { GEMM_SUBGROUP_INCLUDE } from './matmul_subgroup.ts';

export const attentionSubgroupKernel = defineKernel({ name: 'nn/attention_subgroup', source, include: GEMM_SUBGROUP_INCLUDE });
