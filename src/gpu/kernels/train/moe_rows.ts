/**
 * Host for shaders/train/moe_rows.wgsl: gather to expert rows, weighted combine, and their backward pieces.
 * CPU reference: `gatherRows`, `combineRows` in src/engine/reference/train/moe-rows.ts; gate_grad and input_grad are
 * checked against finite differences of them.
 */
import source from '../../../../shaders/train/moe_rows.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridFlat, gridRows } from '../../train/grid.ts';

export const moeRowsKernels = {
  gather: defineKernel({ name: 'train/moe-rows-gather', source, entryPoint: 'gather' }),
  combine: defineKernel({ name: 'train/moe-rows-combine', source, entryPoint: 'combine' }),
  gateGrad: defineKernel({ name: 'train/moe-rows-gate-grad', source, entryPoint: 'gate_grad' }),
  inputGrad: defineKernel({ name: 'train/moe-rows-input-grad', source, entryPoint: 'input_grad' }),
};

export interface MoeRowsShape {
  tokens: number; // T
  width: number; // H
  topK: number; // K
  experts: number; // E
  rows: number; // R
}

/** The dispatch maps of one layer (moe_dispatch.ts). */
export interface RowMaps {
  rowSlot: GPUBuffer; // [R]
  slotRow: GPUBuffer; // [T, K]
}

const params = (s: MoeRowsShape, routerOffset = 0) => ({
  tokens: s.tokens,
  width: s.width,
  top_k: s.topK,
  experts: s.experts,
  rows: s.rows,
  router_offset: routerOffset,
});

/** out [R, H] = x [T, H] at each row's token, times the row's gate when `gates` is given. */
export function recordGatherRows(rec: Recorder, s: MoeRowsShape, maps: RowMaps, x: GPUBuffer, out: GPUBuffer, gates: GPUBuffer | null): void {
  rec.dispatch(moeRowsKernels.gather, {
    bindings: { row_slot: maps.rowSlot, slot_row: maps.slotRow, gates: gates ?? x, x, other: x, out },
    params: params(s),
    constants: { SCALE_BY_GATE: gates !== null },
    workgroups: gridRows(s.width, s.rows),
  });
}

/** out [T, H] = residual + sum_k g * y rows. */
export function recordCombineRows(rec: Recorder, s: MoeRowsShape, maps: RowMaps, gates: GPUBuffer, y: GPUBuffer, residual: GPUBuffer, out: GPUBuffer): void {
  rec.dispatch(moeRowsKernels.combine, {
    bindings: { row_slot: maps.rowSlot, slot_row: maps.slotRow, gates, x: y, other: residual, out },
    params: params(s),
    workgroups: gridRows(s.width, s.tokens),
  });
}

/** dGates [T, K] = dh [T, H] . y rows. `gates` is any buffer (unused). */
export function recordGateGrad(rec: Recorder, s: MoeRowsShape, maps: RowMaps, y: GPUBuffer, dh: GPUBuffer, dGates: GPUBuffer, unused: GPUBuffer): void {
  rec.dispatch(moeRowsKernels.gateGrad, {
    bindings: { row_slot: maps.rowSlot, slot_row: maps.slotRow, gates: unused, x: y, other: dh, out: dGates },
    params: params(s),
    workgroups: gridFlat(s.tokens * s.topK),
  });
}

/** dx [T, H] = sum_k dxRows + dLogits [T, E] . router (weights[routerOffset ..] [E, H]). */
export function recordInputGrad(
  rec: Recorder,
  s: MoeRowsShape,
  maps: RowMaps,
  dxRows: GPUBuffer,
  dLogits: GPUBuffer,
  weights: GPUBuffer,
  routerOffset: number,
  dx: GPUBuffer,
): void {
  rec.dispatch(moeRowsKernels.inputGrad, {
    bindings: { row_slot: maps.rowSlot, slot_row: maps.slotRow, gates: dLogits, x: dxRows, other: weights, out: dx },
    params: params(s, routerOffset),
    workgroups: gridRows(s.width, s.tokens),
  });
}
