/**
 * Host for shaders/prune/group_histogram.wgsl: one radix pass over one matrix of a matrix / layer group.
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/group_histogram.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { groupChunks, scoreConstants, SELECT_INCLUDES, type ScoredMatrix, scoredBindings } from './score.ts';

export const pruneGroupHistogramKernel = defineKernel({ name: 'prune/group_histogram', source, include: SELECT_INCLUDES });

/** group_state [groups, 2] u32, histograms [groups, 256] u32 (zero before pass 0; group_pick re-zeroes them). */
export function recordGroupHistogram(
  rec: Recorder,
  method: MaskMethod,
  matrix: ScoredMatrix,
  group: number,
  pass: number,
  groupState: GPUBuffer,
  histograms: GPUBuffer,
): void {
  const elementCount = matrix.rows * matrix.cols;
  rec.dispatch(pruneGroupHistogramKernel, {
    bindings: { ...scoredBindings(matrix), group_state: groupState, histograms },
    params: { element_count: elementCount, cols: matrix.cols, weight_base: matrix.weightBase, stream_key: matrix.streamKey, group, radix_pass: pass },
    constants: scoreConstants(method, matrix.dtype),
    workgroups: grid1d(groupChunks(elementCount), 1),
  });
}
