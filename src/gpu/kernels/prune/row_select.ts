/**
 * Host for shaders/prune/row_select.wgsl: unstructured pruning, one comparison group per row, one dispatch.
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/row_select.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { scoreConstants, SELECT_INCLUDES, type ScoredMatrix } from './score.ts';

export const pruneRowSelectKernel = defineKernel({ name: 'prune/row_select', source, include: SELECT_INCLUDES });

/**
 * Invocations per row (SELECT_THREADS): about 16 columns each, a power of two in 32..256 — 256 for the 4096- and
 * 14336-wide rows of real experts, fewer for short rows, whose idle invocations would only wait at barriers.
 */
export function rowSelectThreads(cols: number): number {
  return Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(cols / 16))));
}

/** Prunes `pruneCount` weights of every row of `matrix`; its mask words must be zero when cols % 32 != 0. */
export function recordRowSelect(rec: Recorder, method: MaskMethod, matrix: ScoredMatrix, pruneCount: number, mask: BufferBinding, maskWordBase: number): void {
  const { rows, cols, weightBase, streamKey } = matrix;
  rec.dispatch(pruneRowSelectKernel, {
    bindings: { weights: matrix.weights, column_factors: matrix.columnFactors, mask },
    params: { rows, cols, weight_base: weightBase, mask_word_base: maskWordBase, prune_count: pruneCount, stream_key: streamKey },
    constants: { ...scoreConstants(method, matrix.dtype), SELECT_THREADS: rowSelectThreads(cols) },
    workgroups: grid1d(rows, 1),
  });
}
