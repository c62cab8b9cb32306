/**
 * CPU reference of shaders/train/moe_dispatch.wgsl, in exact integers: the training step's expert row maps. The
 * T K assignments a = t K + k are grouped by expert, in increasing a within an expert; expert e's segment follows
 * expert e - 1's, its start rounded up to a multiple of ROW_ALIGN so that every expert's rows begin on a row tile of
 * shaders/train/matmul.wgsl. Rows past an expert's assignments (its padding, and every row after the last expert)
 * hold NO_SLOT.
 */

/** The row tile of shaders/train/matmul.wgsl: each expert segment starts at a multiple of it. */
const ROW_ALIGN = 8;
/** row_slot of a padding or unused row. */
export const NO_SLOT = 0xffffffff;

export interface ExpertRowMaps {
  /** [2E]: each expert's first row, then its row count (assignments). */
  table: Uint32Array;
  /** [R]: the assignment a = t K + k of each row, NO_SLOT for padding and unused rows. */
  rowSlot: Uint32Array;
  /** [T K]: the row of each assignment. */
  slotRow: Uint32Array;
}

/** chosen [T K] expert ids (each < `experts`) -> the maps over `rows` R rows (the capacity of the row buffers). */
export function expertRowMaps(chosen: ArrayLike<number>, experts: number, rows: number): ExpertRowMaps {
  const table = new Uint32Array(2 * experts);
  for (let a = 0; a < chosen.length; a++) {
    if (!(chosen[a] >= 0 && chosen[a] < experts)) throw new RangeError(`assignment ${a} chooses expert ${chosen[a]}, outside 0..${experts - 1}`);
    table[experts + chosen[a]]++;
  }
  let start = 0;
  for (let e = 0; e < experts; e++) {
    table[e] = start;
    start += Math.ceil(table[experts + e] / ROW_ALIGN) * ROW_ALIGN;
  }
  if (start > rows) throw new RangeError(`the expert segments need ${start} rows, the row buffers hold ${rows}`);
  const rowSlot = new Uint32Array(rows).fill(NO_SLOT);
  const slotRow = new Uint32Array(chosen.length);
  const next = table.slice(0, experts);
  for (let a = 0; a < chosen.length; a++) {
    const row = next[chosen[a]]++;
    rowSlot[row] = a;
    slotRow[a] = row;
  }
  return { table, rowSlot, slotRow };
}
