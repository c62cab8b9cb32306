/**
 * Host for shaders/moe/expert_down.wgsl: expertOut [rows, H] = inter [rows, I] . down_e^T, per expert.
 * On devices whose GpuContext.matrixKernels is 'subgroup', moe/expert_down_subgroup instead (same bindings, same
 * result). CPU reference: `swiglu` in src/engine/reference/ops.ts.
 */
import gemmTile from '../../../../shaders/nn/gemm_tile.wgsl';
import groupedTile from '../../../../shaders/moe/grouped_tile.wgsl';
import source from '../../../../shaders/moe/expert_down.wgsl';
import downBindings from '../../../../shaders/moe/expert_down_bindings.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';
import type { RowPlan } from './expert_gate_up.ts';
import { GEMM_TILE, type WeightOperand } from '../nn/matmul.ts';
import { subgroupShape } from '../nn/matmul_subgroup.ts';
import { expertDownSubgroupKernel } from './expert_down_subgroup.ts';

export const expertDownKernel = defineKernel({ name: 'moe/expert_down', source, include: [WEIGHTS_WGSL, gemmTile, groupedTile, downBindings] });

export interface ExpertDownArgs {
  inter: GPUBuffer; // [rows, I]
  down: WeightOperand; // [E, H, I] (dense: [H, I])
  expertOut: GPUBuffer; // [rows, H]
  plan: RowPlan;
  hidden: number;
  interSize: number;
  /** gpt_oss: bias [E, H]. */
  bias?: GPUBuffer | null;
}

export function recordExpertDown(rec: Recorder, a: ExpertDownArgs): void {
  const p = a.plan;
  const rows = p.kind === 'gathered' ? p.maxTiles : Math.ceil(p.rows / GEMM_TILE);
  const constants = {
    WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[a.down.dtype],
    HAS_MASK: Boolean(a.down.mask),
    GATHERED: p.kind === 'gathered',
    HAS_BIAS: Boolean(a.bias),
  };
  const common = {
    bindings: {
      x: a.inter,
      weight: a.down.buffer,
      keep_mask: a.down.mask ?? a.down.buffer,
      tiles: p.kind === 'gathered' ? p.tiles : a.inter,
      offsets: p.kind === 'gathered' ? p.offsets : a.inter,
      expert_out: a.expertOut,
      // Without a bias the binding is never read.
      bias: a.bias ?? a.inter,
    },
    params: { rows: p.kind === 'dense' ? p.rows : 0, hidden: a.hidden, inter_size: a.interSize },
  };
  if (rec.matrixKernels === 'subgroup') {
    const shape = subgroupShape(rec, a.hidden, a.interSize, GEMM_TILE);
    rec.dispatch(expertDownSubgroupKernel, { ...common, constants: { ...constants, ...shape }, workgroups: [Math.ceil(a.hidden / (2 * shape.LANES)), rows] });
    return;
  }
  rec.dispatch(expertDownKernel, { ...common, constants, workgroups: [Math.ceil(a.hidden / GEMM_TILE), rows] });
}
