/**
 * Host for shaders/eval/nll.wgsl: per-row next-token NLL from a [rows, V] chunk of logits.
 * CPU reference: `nllOfRow` in src/engine/reference/ops.ts.
 */
import workgroupReduce from '../../../../shaders/nn/workgroup_reduce.wgsl';
import source from '../../../../shaders/eval/nll.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { reductionWorkgroupSize } from '../nn/norm.ts';

export const nllKernel = defineKernel({ name: 'eval/nll', source, include: [workgroupReduce] });

/** Target of a row with nothing to predict (the last token of a window). */
export const NO_TARGET = 0xffffffff;

/** logits [rows, V]; targets and nll [T], this chunk at rows rowOffset .. rowOffset + rows - 1. */
export function recordNll(rec: Recorder, logits: GPUBuffer, targets: GPUBuffer, nll: GPUBuffer, rows: number, vocab: number, rowOffset: number): void {
  rec.dispatch(nllKernel, {
    bindings: { logits, targets, nll },
    params: { rows, vocab, row_offset: rowOffset },
    // The exps dominate, not the loads: 64 per thread (fewer barrier levels) ran this 2x faster on lavapipe than 16.
    constants: { WORKGROUP_SIZE: reductionWorkgroupSize(vocab, 64) },
    workgroups: grid1d(rows, 1),
  });
}
