/**
 * Host for shaders/prune/group_tie_count.wgsl: keys equal to the group threshold, per chunk of one matrix.
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/group_tie_count.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { groupChunks, scoreConstants, SELECT_INCLUDES, type ScoredMatrix, scoredBindings } from './score.ts';

export const pruneGroupTieCountKernel = defineKernel({ name: 'prune/group_tie_count', source, include: SELECT_INCLUDES });

export function recordGroupTieCount(
  rec: Recorder,
  method: MaskMethod,
  matrix: ScoredMatrix,
  group: number,
  chunkBase: number,
  groupState: GPUBuffer,
  tieCounts: GPUBuffer,
): void {
  const elementCount = matrix.rows * matrix.cols;
  rec.dispatch(pruneGroupTieCountKernel, {
    bindings: { ...scoredBindings(matrix), group_state: groupState, tie_counts: tieCounts },
    params: { element_count: elementCount, cols: matrix.cols, weight_base: matrix.weightBase, stream_key: matrix.streamKey, group, chunk_base: chunkBase },
    constants: scoreConstants(method, matrix.dtype),
    workgroups: grid1d(groupChunks(elementCount), 1),
  });
}
