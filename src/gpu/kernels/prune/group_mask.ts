/**
 * Host for shaders/prune/group_mask.wgsl: the keep-mask of one matrix of a matrix / layer group.
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/group_mask.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { groupChunks, scoreConstants, SELECT_INCLUDES, type ScoredMatrix, scoredBindings } from './score.ts';

export const pruneGroupMaskKernel = defineKernel({ name: 'prune/group_mask', source, include: SELECT_INCLUDES });

export function recordGroupMask(
  rec: Recorder,
  method: MaskMethod,
  matrix: ScoredMatrix,
  group: number,
  chunkBase: number,
  groupState: GPUBuffer,
  tieOffsets: GPUBuffer,
  mask: BufferBinding,
  maskWordBase: number,
): void {
  const elementCount = matrix.rows * matrix.cols;
  rec.dispatch(pruneGroupMaskKernel, {
    bindings: { ...scoredBindings(matrix), group_state: groupState, tie_offsets: tieOffsets, mask },
    params: {
      element_count: elementCount,
      cols: matrix.cols,
      weight_base: matrix.weightBase,
      stream_key: matrix.streamKey,
      group,
      chunk_base: chunkBase,
      mask_word_base: maskWordBase,
    },
    constants: scoreConstants(method, matrix.dtype),
    workgroups: grid1d(groupChunks(elementCount), 1),
  });
}
