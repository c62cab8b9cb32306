/**
 * Host for shaders/moe/combine.wgsl: out [T, H] = sum_k gate * expert_out[row] (+ gated shared expert).
 * CPU reference: `combineReference` in src/engine/reference/moe/combine.ts.
 */
import source from '../../../../shaders/moe/combine.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const combineKernel = defineKernel({ name: 'moe/combine', source });

export interface CombineArgs {
  expertOut: GPUBuffer; // [rows, H]
  gates: GPUBuffer; // [T, K]
  rowOfSlot: GPUBuffer; // [T, K]
  out: GPUBuffer; // [T, H]
  tokens: number;
  hidden: number;
  topK: number;
  /** Shared expert output [T, H], with Qwen2-MoE's gate logit [T] when gated. */
  shared?: { out: GPUBuffer; gateLogit: GPUBuffer | null } | null;
}

/** Outputs per invocation of moe/combine (SPAN in combine.wgsl): consecutive h of one token. */
export const COMBINE_SPAN = 4;

export function recordCombine(rec: Recorder, a: CombineArgs): void {
  rec.dispatch(combineKernel, {
    bindings: {
      expert_out: a.expertOut,
      gates: a.gates,
      row_of_slot: a.rowOfSlot,
      shared_out: a.shared?.out ?? a.gates,
      shared_gate_logit: a.shared?.gateLogit ?? a.gates,
      out: a.out,
    },
    params: { tokens: a.tokens, hidden: a.hidden, top_k: a.topK },
    constants: { SHARED: Boolean(a.shared), SHARED_GATED: Boolean(a.shared?.gateLogit) },
    workgroups: grid1d(a.tokens * Math.ceil(a.hidden / COMBINE_SPAN), 256),
  });
}
