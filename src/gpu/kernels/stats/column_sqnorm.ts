/**
 * Host for shaders/stats/column_sqnorm.wgsl: per-segment column sums of squares, plain and gated, added to totals.
 * CPU reference: `segmentColumnSqNorms` in src/engine/reference/stats/kernels.ts.
 */
import source from '../../../../shaders/stats/column_sqnorm.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const columnSqNormKernel = defineKernel({ name: 'stats/column_sqnorm', source });

/** Columns per workgroup: 64 when the statistic is at least that wide, else 32 (more row lanes). */
function columnsPerWorkgroup(width: number): number {
  return width >= 64 ? 64 : 32;
}

/**
 * Where the rows are: `rowSlot` (the forward's sorted_rows, assignment t * K + k of each gathered row) when the
 * segments are experts' gathered rows; `fromTokens` reads row t = slot / K of a [T, W] matrix (the MoE input)
 * instead of row r of an already gathered one. Without rowSlot, row r is rows[r] and its gate gates[r].
 */
export interface ColumnSqNormArgs {
  rows: BufferBinding; // [*, rowStride] f32
  width: number; // W
  rowStride?: number; // default W
  columnOffset?: number; // default 0
  rowSlot?: BufferBinding | null; // [R] u32
  fromTokens?: boolean;
  topK?: number; // K, with fromTokens
  /** g per slot ([T * K]) or per row ([T]); absent: no gated statistic. */
  gates?: BufferBinding | null;
  /** The gates are logits: g = sigmoid(value) (Qwen2-MoE shared expert). */
  gateSigmoid?: boolean;
  offsets: BufferBinding; // [S + 1] u32
  segments: number; // S
  /** f32 running totals holding sqnorm [S, W] at element `plainAt` and, with gates, sqnorm_gated at `gatedAt`. */
  totals: BufferBinding;
  plainAt: number;
  gatedAt?: number;
  label?: string;
}

export function recordColumnSqNorm(rec: Recorder, a: ColumnSqNormArgs): void {
  if (a.gates && a.gatedAt === undefined) throw new Error('column_sqnorm: a gated statistic needs gatedAt');
  if (a.fromTokens && !(a.rowSlot && a.topK)) throw new Error('column_sqnorm: fromTokens needs rowSlot and topK');
  const columns = columnsPerWorkgroup(a.width);
  // Bindings the shader does not read under the chosen overrides still need a buffer: reuse a read-only one.
  const filler = a.offsets;
  rec.dispatch(columnSqNormKernel, {
    bindings: { rows: a.rows, row_slot: a.rowSlot ?? filler, gates: a.gates ?? filler, offsets: a.offsets, totals: a.totals },
    params: {
      width: a.width,
      row_stride: a.rowStride ?? a.width,
      column_offset: a.columnOffset ?? 0,
      top_k: a.topK ?? 1,
      plain_at: a.plainAt,
      gated_at: a.gatedAt ?? 0,
    },
    constants: {
      GATHERED: Boolean(a.rowSlot),
      FROM_TOKENS: Boolean(a.fromTokens),
      GATED: Boolean(a.gates),
      GATE_SIGMOID: Boolean(a.gateSigmoid),
      COLUMNS: columns,
    },
    workgroups: [Math.ceil(a.width / columns), a.segments],
    label: a.label,
  });
}
