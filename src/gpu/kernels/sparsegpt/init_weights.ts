/**
 * Host for shaders/sparsegpt/init_weights.wgsl: f32 working copy with dead inputs zeroed; mask bits cleared.
 * CPU reference: `sparseGptReference` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/init_weights.wgsl';
import type { WeightDtype } from '../../../engine/model/spec.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';

export const initWeightsKernel = defineKernel({ name: 'sparsegpt/init_weights', source, include: [WEIGHTS_WGSL] });

/** A chunk of Z matrices [R, C]: where they are in the packed weights, the work buffer and the mask. */
export interface MatrixChunk {
  rows: number; // R
  cols: number; // C
  matrices: number; // Z
  /** Global index of the chunk's first matrix; matrix z uses factor floor((firstMatrix + z) / share). */
  firstMatrix: number;
  share: number;
  /** Element of the chunk's W[0, 0, 0] in the mask bitset. */
  maskBase: number;
}

export function recordInitWeights(
  rec: Recorder,
  chunk: MatrixChunk,
  source: { weights: BufferBinding; dtype: WeightDtype; elementOffset: number },
  dead: BufferBinding,
  work: BufferBinding,
  mask: BufferBinding,
): void {
  const count = chunk.matrices * chunk.rows * chunk.cols;
  rec.dispatch(initWeightsKernel, {
    bindings: { weights: source.weights, dead, work, mask },
    params: {
      rows: chunk.rows,
      cols: chunk.cols,
      count,
      weight_base: source.elementOffset,
      first_matrix: chunk.firstMatrix,
      share: chunk.share,
      mask_base: chunk.maskBase,
    },
    constants: { WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[source.dtype] },
    workgroups: grid1d(count, 256),
  });
}
