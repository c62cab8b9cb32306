/**
 * Host for shaders/train/transpose.wgsl: out[z] = in[z]^T for `batch` matrices of [rows, cols].
 * CPU reference: `referenceLoss` in src/engine/reference/train/model.ts.
 */
import source from '../../../../shaders/train/transpose.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridRows } from '../../train/grid.ts';

export const transposeKernel = defineKernel({ name: 'train/transpose', source });

export function recordTranspose(
  rec: Recorder,
  shape: { batch: number; rows: number; cols: number },
  input: GPUBuffer,
  inOffset: number,
  output: GPUBuffer,
  outOffset: number,
): void {
  rec.dispatch(transposeKernel, {
    bindings: { input, output },
    params: { batch: shape.batch, rows: shape.rows, cols: shape.cols, in_offset: inOffset, out_offset: outOffset },
    workgroups: gridRows(shape.cols, shape.batch * shape.rows),
  });
}
