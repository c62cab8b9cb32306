/**
 * Host for shaders/distill/expert_mse.wgsl: per-expert MSE between student and teacher expert outputs, their sum,
 * and its gradient with respect to the student's outputs.
 * CPU reference: `expertMseReference`, `expertGradReference` in src/engine/reference/distill/kernels.ts.
 */
import workgroupReduce from '../../../../shaders/nn/workgroup_reduce.wgsl';
import source from '../../../../shaders/distill/expert_mse.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridRows } from '../../train/grid.ts';

export const expertMseKernels = {
  mse: defineKernel({ name: 'distill/expert-mse', source, include: [workgroupReduce], entryPoint: 'expert_mse' }),
  total: defineKernel({ name: 'distill/expert-total', source, include: [workgroupReduce], entryPoint: 'expert_total' }),
  grad: defineKernel({ name: 'distill/expert-grad', source, include: [workgroupReduce], entryPoint: 'expert_grad' }),
};

export interface ExpertRowsShape {
  experts: number; // E
  width: number; // H
  rows: number; // R
}

const params = (s: ExpertRowsShape, extra: { mseOffset?: number; count?: number; outOffset?: number } = {}) => ({
  experts: s.experts,
  width: s.width,
  rows: s.rows,
  mse_offset: extra.mseOffset ?? 0,
  count: extra.count ?? 0,
  out_offset: extra.outOffset ?? 0,
});

/** mse[mseOffset + e] = mean over expert e's rows and H of (student - teacher)^2, for e < E. */
export function recordExpertMse(
  rec: Recorder,
  s: ExpertRowsShape,
  table: GPUBuffer,
  student: GPUBuffer,
  teacher: GPUBuffer,
  mse: GPUBuffer,
  mseOffset: number,
): void {
  rec.dispatch(expertMseKernels.mse, { bindings: { table, student, teacher, result: mse }, params: params(s, { mseOffset }), workgroups: [s.experts] });
}

/** out[outOffset] = sum of mse[first .. first + count) in order. */
export function recordExpertTotal(rec: Recorder, mse: GPUBuffer, first: number, count: number, out: GPUBuffer, outOffset: number): void {
  rec.dispatch(expertMseKernels.total, {
    bindings: { table: mse, student: mse, teacher: mse, result: out },
    params: params({ experts: 0, width: 0, rows: 0 }, { mseOffset: first, count, outOffset }),
    workgroups: [1],
  });
}

/** dStudent [R, H] = 2 / (n_e H) (student - teacher) on every expert's rows, 0 on rows of no expert. */
export function recordExpertGrad(rec: Recorder, s: ExpertRowsShape, table: GPUBuffer, student: GPUBuffer, teacher: GPUBuffer, dStudent: GPUBuffer): void {
  rec.dispatch(expertMseKernels.grad, { bindings: { table, student, teacher, result: dStudent }, params: params(s), workgroups: gridRows(s.width, s.rows) });
}
