/**
 * Host for shaders/sparsegpt/block_select.wgsl: the unstructured mask of one column block, per matrix.
 * CPU reference: `sparseGptReference` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/block_select.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { RADIX_INCLUDES } from '../prune/score.ts';
import selectWgsl from '../../../../shaders/prune/select.wgsl';
import type { MatrixChunk } from './init_weights.ts';

export const blockSelectKernel = defineKernel({ name: 'sparsegpt/block_select', source, include: [...RADIX_INCLUDES, selectWgsl] });

export interface ColumnBlock {
  start: number;
  width: number;
}

/** Prunes `pruneCount` of the R x width scores of the block in every matrix of the chunk. */
export function recordBlockSelect(
  rec: Recorder,
  chunk: MatrixChunk,
  block: ColumnBlock,
  pruneCount: number,
  buffers: { work: BufferBinding; factor: BufferBinding; mask: BufferBinding },
): void {
  rec.dispatch(blockSelectKernel, {
    bindings: buffers,
    params: {
      rows: chunk.rows,
      cols: chunk.cols,
      block_start: block.start,
      block_width: block.width,
      prune_count: pruneCount,
      first_matrix: chunk.firstMatrix,
      share: chunk.share,
      mask_base: chunk.maskBase,
    },
    workgroups: [chunk.matrices],
  });
}
