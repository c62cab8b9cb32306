/**
 * Host for shaders/eval/fidelity.wgsl: per row of two [rows, V] logits chunks (dense, pruned), KL(p_dense ||
 * p_pruned) and both argmaxes (ties to the lowest token id).
 * CPU reference: `fidelityOfRow` in src/engine/reference/eval/fidelity.ts.
 */
import workgroupReduce from '../../../../shaders/nn/workgroup_reduce.wgsl';
import source from '../../../../shaders/eval/fidelity.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const fidelityKernel = defineKernel({ name: 'eval/fidelity', source, include: [workgroupReduce] });

/** Per-position outputs [T]: kl f32, denseTop and prunedTop u32. */
export interface FidelityBuffers {
  kl: GPUBuffer;
  denseTop: GPUBuffer;
  prunedTop: GPUBuffer;
}

/** dense and pruned logits [rows, V]; the chunk's rows land at rowOffset .. rowOffset + rows - 1 of the outputs. */
export function recordFidelity(rec: Recorder, dense: GPUBuffer, pruned: GPUBuffer, out: FidelityBuffers, rows: number, vocab: number, rowOffset: number): void {
  rec.dispatch(fidelityKernel, {
    bindings: { dense, pruned, kl: out.kl, dense_top: out.denseTop, pruned_top: out.prunedTop },
    params: { rows, vocab, row_offset: rowOffset },
    workgroups: grid1d(rows, 1),
  });
}
