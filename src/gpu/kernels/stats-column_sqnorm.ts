/** Host for shaders/stats/column_sqnorm.wgsl: per-segment column sums of squares, plain and gated, added to totals. */
import source from '../../../shaders/stats/column_sqnorm.wgsl';
import { defineKernel } from '../kernel.ts';
import type { BufferBinding, Recorder } from '../recorder.ts';

export const columnSqNormKernel = defineKernel({ name: 'stats/column_sqnorm', source });

/** Columns per workgroup: 64 when the statistic is at least that wide, else 32 (more row lanes). */
function columnsPerWorkgroup(width: number): number {
  return width >= 64 ? 64 : 32;
}

export interface ColumnSqNormArgs {
  rows: BufferBinding; // [*, rowStride] f32
  width: number; // W
  rowStride?: number; // default W
  columnOffset?: number; // default 0
  /** [R] u32: source row of gathered row r; absent: row r is rows[r]. */
  rowSource?: BufferBinding | null;
  /** [R] f32 gate of each row; absent: no gated statistic. */
  rowGate?: BufferBinding | null;
  offsets: BufferBinding; // [S + 1] u32
  segments: number; // S
  /** f32 running totals holding sqnorm [S, W] at element `plainAt` and, with rowGate, sqnorm_gated at `gatedAt`. */
  totals: BufferBinding;
  plainAt: number;
  gatedAt?: number;
  label?: string;
}

export function recordColumnSqNorm(rec: Recorder, a: ColumnSqNormArgs): void {
  if (a.rowGate && a.gatedAt === undefined) throw new Error('column_sqnorm: a gated statistic needs gatedAt');
  const columns = columnsPerWorkgroup(a.width);
  // Bindings the shader does not read under the chosen overrides still need a buffer: reuse a read-only one.
  const filler = a.offsets;
  rec.dispatch(columnSqNormKernel, {
    bindings: { rows: a.rows, row_source: a.rowSource ?? filler, row_gate: a.rowGate ?? filler, offsets: a.offsets, totals: a.totals },
    params: {
      width: a.width,
      row_stride: a.rowStride ?? a.width,
      column_offset: a.columnOffset ?? 0,
      plain_at: a.plainAt,
      gated_at: a.gatedAt ?? 0,
    },
    constants: { INDEXED: Boolean(a.rowSource), GATED: Boolean(a.rowGate), COLUMNS: columns },
    workgroups: [Math.ceil(a.width / columns), a.segments],
    label: a.label,
  });
}
