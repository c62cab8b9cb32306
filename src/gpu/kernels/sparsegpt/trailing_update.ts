/**
 * Host for shaders/sparsegpt/trailing_update.wgsl: W[:, end:] -= Err x U[block, end:] after a block.
 * CPU reference: `sparseGptReference` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/trailing_update.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import type { ColumnBlock } from './block_select.ts';
import type { MatrixChunk } from './init_weights.ts';

export const trailingUpdateKernel = defineKernel({ name: 'sparsegpt/trailing_update', source });

/** Nothing to do after the last block. */
export function recordTrailingUpdate(
  rec: Recorder,
  chunk: MatrixChunk,
  block: ColumnBlock,
  blockSize: number,
  buffers: { work: BufferBinding; factor: BufferBinding; err: BufferBinding },
): void {
  const remaining = chunk.cols - block.start - block.width;
  if (remaining <= 0) return;
  rec.dispatch(trailingUpdateKernel, {
    bindings: buffers,
    params: {
      rows: chunk.rows,
      cols: chunk.cols,
      block_start: block.start,
      block_width: block.width,
      first_matrix: chunk.firstMatrix,
      share: chunk.share,
      err_stride: blockSize,
    },
    workgroups: [Math.ceil(remaining / 64), Math.ceil(chunk.rows / 64), chunk.matrices],
  });
}
