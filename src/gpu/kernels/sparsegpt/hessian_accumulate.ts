/**
 * Host for shaders/sparsegpt/hessian_accumulate.wgsl: S[s] += X_s^T X_s over each segment's rows.
 * CPU reference: `sparseGptModelReference` in src/engine/reference/sparsegpt-model.ts.
 */
import source from '../../../../shaders/sparsegpt/hessian_accumulate.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const hessianAccumulateKernel = defineKernel({ name: 'sparsegpt/hessian_accumulate', source });

export interface HessianAccumulateArgs {
  rows: BufferBinding; // [*, rowStride] f32
  width: number; // C
  rowStride?: number; // default C
  /** The forward's sorted_rows [T * K]: read row slot / K of `rows` (the MoE input [T, H]); absent: row r itself. */
  rowSlot?: { buffer: BufferBinding; topK: number } | null;
  offsets: BufferBinding; // [segments + 1] u32
  firstSegment?: number;
  segments: number;
  totals: BufferBinding; // S [segments, C, C] f32 running totals from element totalBase
  totalBase?: number;
  label?: string;
}

export function recordHessianAccumulate(rec: Recorder, a: HessianAccumulateArgs): void {
  const tiles = Math.ceil(a.width / 32);
  rec.dispatch(hessianAccumulateKernel, {
    // The row_slot binding is not read without FROM_TOKENS but still needs a buffer: the offsets serve.
    bindings: { rows: a.rows, row_slot: a.rowSlot?.buffer ?? a.offsets, offsets: a.offsets, totals: a.totals },
    params: {
      width: a.width,
      row_stride: a.rowStride ?? a.width,
      top_k: a.rowSlot?.topK ?? 1,
      first_segment: a.firstSegment ?? 0,
      total_base: a.totalBase ?? 0,
    },
    constants: { FROM_TOKENS: Boolean(a.rowSlot) },
    workgroups: [tiles, tiles, a.segments],
    label: a.label,
  });
}
