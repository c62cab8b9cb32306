/**
 * Host for shaders/distill/expert_rows.wgsl: a MoE layer's routed rows (the inference forward's tap) gathered
 * per expert for expert-wise training, with the [2E] segment table.
 * CPU reference: `expertRowsReference` in src/engine/reference/distill/kernels.ts.
 */
import source from '../../../../shaders/distill/expert_rows.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat, gridRows } from '../../train/grid.ts';

export const expertRowsKernels = {
  segments: defineKernel({ name: 'distill/expert-segments', source, entryPoint: 'segments' }),
  gather: defineKernel({ name: 'distill/expert-gather', source, entryPoint: 'gather' }),
};

export interface ExpertRowsInput {
  tokens: number; // T
  width: number; // H
  experts: number; // E
  topK: number; // K
  x: GPUBuffer; // [T, H]
  sortedRows: GPUBuffer; // [T K]
  offsets: GPUBuffer; // [E + 1]
}

/** table [2E], xRows [T K, H] and rowExpert [T K] from the routing of one forward (taps.ts buffers). */
export function recordExpertRows(rec: Recorder, s: ExpertRowsInput, out: { xRows: GPUBuffer; rowExpert: GPUBuffer; table: GPUBuffer }): void {
  const rows = s.tokens * s.topK;
  const bindings = { x: s.x, sorted_rows: s.sortedRows, offsets: s.offsets, x_rows: out.xRows, row_expert: out.rowExpert, table: out.table };
  const params = { rows, width: s.width, experts: s.experts, top_k: s.topK };
  rec.dispatch(expertRowsKernels.segments, { bindings, params, workgroups: gridFlat(s.experts) });
  rec.dispatch(expertRowsKernels.gather, { bindings, params, workgroups: gridRows(s.width, rows) });
}
