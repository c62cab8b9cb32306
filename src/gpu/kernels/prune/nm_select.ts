/**
 * Host for shaders/prune/nm_select.wgsl: N:M pruning, one invocation per mask word (per word column of
 * NM_ROWS_PER_INVOCATION rows on the 16-byte way).
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/nm_select.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { SCORE_INCLUDES, scoreConstants, type ScoredMatrix, scoredBindings } from './score.ts';

export const pruneNmSelectKernel = defineKernel({ name: 'prune/nm_select', source, include: SCORE_INCLUDES });

/** BLOCK_VECS of nm_select.wgsl: M / 4 when blocks of whole vec4s tile a 32-element mask word, else 0. */
export function nmBlockVecs(block: number): number {
  return block % 4 === 0 && 32 % block === 0 ? block / 4 : 0;
}

/**
 * ROWS_PER_INVOCATION of nm_select.wgsl: rows one invocation ranks on the 16-byte way, reading the 32 column factors
 * of its word column once for all of them.
 */
export const NM_ROWS_PER_INVOCATION = 8;

/** Invocations of nm_select for a matrix: one per word column and group of rows on the 16-byte way, else one per word. */
export function nmInvocations(matrix: Pick<ScoredMatrix, 'rows' | 'cols' | 'vec4Loads'>, block: number): number {
  if (nmBlockVecs(block) > 0 && matrix.vec4Loads) {
    return (matrix.cols / 32) * Math.ceil(matrix.rows / NM_ROWS_PER_INVOCATION);
  }
  return Math.ceil((matrix.rows * matrix.cols) / 32);
}

/** Keeps the `keep` largest scores of every `block` consecutive columns; cols must be a multiple of `block`. */
export function recordNmSelect(
  rec: Recorder,
  method: MaskMethod,
  matrix: ScoredMatrix,
  keep: number,
  block: number,
  mask: BufferBinding,
  maskWordBase: number,
): void {
  const elementCount = matrix.rows * matrix.cols;
  rec.dispatch(pruneNmSelectKernel, {
    bindings: { ...scoredBindings(matrix), mask },
    params: {
      element_count: elementCount,
      cols: matrix.cols,
      weight_base: matrix.weightBase,
      mask_word_base: maskWordBase,
      stream_key: matrix.streamKey,
      keep,
      block,
      vec4_loads: matrix.vec4Loads ? 1 : 0,
    },
    constants: {
      ...scoreConstants(method, matrix.dtype),
      BLOCK_VECS: nmBlockVecs(block),
      ROWS_PER_INVOCATION: NM_ROWS_PER_INVOCATION,
    },
    workgroups: grid1d(nmInvocations(matrix, block), 256),
  });
}
