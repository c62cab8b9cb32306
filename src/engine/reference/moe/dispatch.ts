/**
 * Expert dispatch on the CPU: the oracle for shaders/moe/dispatch_*.wgsl. The T*K routing assignments
 * (a = t * K + slot) are grouped by expert, ascending in token within an expert; each expert's rows are cut into
 * tiles of `tileRows` for the grouped expert GEMMs.
 */

export interface DispatchPlan {
  counts: Uint32Array; // [E] tokens routed to each expert
  offsets: Uint32Array; // [E + 1] first gathered row of each expert; offsets[E] = routed rows
  sortedRows: Uint32Array; // [routed rows] assignment a of each gathered row
  rowOfSlot: Uint32Array; // [T * K] gathered row of each assignment, NO_SLOT_ROW for empty slots
  tiles: [expert: number, firstRow: number][];
}

export const NO_SLOT_ROW = 0xffffffff;

/** expertIds [T * K] (ids >= E mean an empty slot) -> the plan. */
export function dispatchPlan(expertIds: ArrayLike<number>, experts: number, tileRows: number): DispatchPlan {
  const counts = new Uint32Array(experts);
  for (let a = 0; a < expertIds.length; a++) if (expertIds[a] < experts) counts[expertIds[a]]++;
  const offsets = new Uint32Array(experts + 1);
  for (let e = 0; e < experts; e++) offsets[e + 1] = offsets[e] + counts[e];
  const sortedRows = new Uint32Array(offsets[experts]);
  const rowOfSlot = new Uint32Array(expertIds.length).fill(NO_SLOT_ROW);
  const next = offsets.slice(0, experts);
  for (let a = 0; a < expertIds.length; a++) {
    const e = expertIds[a];
    if (e >= experts) continue;
    sortedRows[next[e]] = a;
    rowOfSlot[a] = next[e]++;
  }
  const tiles: [number, number][] = [];
  for (let e = 0; e < experts; e++) for (let first = 0; first < counts[e]; first += tileRows) tiles.push([e, offsets[e] + first]);
  return { counts, offsets, sortedRows, rowOfSlot, tiles };
}
