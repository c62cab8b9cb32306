/**
 * Host for shaders/moe/expert_gate_up.wgsl: inter [rows, I] = silu(x W_gate^T) * (x W_up^T), per expert.
 * gpt_oss: + bias, clamped SwiGLU (`expertActivation`). On devices whose GpuContext.matrixKernels is 'subgroup',
 * moe/expert_gate_up_subgroup instead (same bindings, same result). CPU reference: `swiglu` in src/engine/reference/ops.ts.
 */
import gemmTile from '../../../../shaders/nn/gemm_tile.wgsl';
import groupedTile from '../../../../shaders/moe/grouped_tile.wgsl';
import source from '../../../../shaders/moe/expert_gate_up.wgsl';
import gateUpBindings from '../../../../shaders/moe/expert_gate_up_bindings.wgsl';
import swigluWgsl from '../../../../shaders/moe/swiglu.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { ExpertActivation } from '../../../engine/model/spec.ts';
import type { Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';
import { GEMM_TILE, type WeightOperand } from '../nn/matmul.ts';
import { subgroupShape } from '../nn/matmul_subgroup.ts';
import { expertGateUpSubgroupKernel } from './expert_gate_up_subgroup.ts';

export const expertGateUpKernel = defineKernel({
  name: 'moe/expert_gate_up',
  source,
  include: [WEIGHTS_WGSL, gemmTile, groupedTile, gateUpBindings, swigluWgsl],
});

/** How the grouped kernels find their rows: the dispatch plan of an MoE layer, or all rows of a dense FFN. */
export type RowPlan =
  { kind: 'gathered'; sortedRows: GPUBuffer; tiles: GPUBuffer; offsets: GPUBuffer; maxTiles: number; topK: number } | { kind: 'dense'; rows: number };

export interface ExpertGateUpArgs {
  x: GPUBuffer; // [T, H]
  gateUp: WeightOperand; // [E, 2I, H] (dense: [2I, H])
  inter: GPUBuffer; // [rows, I]
  plan: RowPlan;
  hidden: number;
  interSize: number;
  /** gpt_oss: bias [E, 2I] (gate then up) and the clamped SwiGLU. */
  bias?: GPUBuffer | null;
  activation?: ExpertActivation;
}

export function recordExpertGateUp(rec: Recorder, a: ExpertGateUpArgs): void {
  const p = a.plan;
  const rows = p.kind === 'gathered' ? p.maxTiles : Math.ceil(p.rows / GEMM_TILE);
  const constants = {
    WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[a.gateUp.dtype],
    HAS_MASK: Boolean(a.gateUp.mask),
    GATHERED: p.kind === 'gathered',
    HAS_BIAS: Boolean(a.bias),
    ...(a.activation?.kind === 'clamped-swiglu' ? { CLAMPED: true, ALPHA: a.activation.alpha, LIMIT: a.activation.limit } : {}),
  };
  const common = {
    bindings: {
      x: a.x,
      weight: a.gateUp.buffer,
      keep_mask: a.gateUp.mask ?? a.gateUp.buffer,
      // Dense: the plan buffers are never read; any read-only buffer fills the bindings.
      sorted_rows: p.kind === 'gathered' ? p.sortedRows : a.x,
      tiles: p.kind === 'gathered' ? p.tiles : a.x,
      offsets: p.kind === 'gathered' ? p.offsets : a.x,
      inter: a.inter,
      // Without a bias the binding is never read.
      bias: a.bias ?? a.x,
    },
    params: { rows: p.kind === 'dense' ? p.rows : 0, hidden: a.hidden, inter_size: a.interSize, top_k: p.kind === 'gathered' ? p.topK : 1 },
  };
  if (rec.matrixKernels === 'subgroup') {
    // One invocation per intermediate feature: its two columns are that feature's gate and up rows.
    const shape = subgroupShape(rec, 2 * a.interSize, a.hidden, GEMM_TILE);
    rec.dispatch(expertGateUpSubgroupKernel, { ...common, constants: { ...constants, ...shape }, workgroups: [Math.ceil(a.interSize / shape.LANES), rows] });
    return;
  }
  rec.dispatch(expertGateUpKernel, { ...common, constants, workgroups: [Math.ceil(a.interSize / (GEMM_TILE / 2)), rows] });
}
