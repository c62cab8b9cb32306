/**
 * Host for shaders/nn/embedding.wgsl: h [T, H] = table[ids] * multiplier.
 * CPU reference: `embedding` in src/engine/reference/ops.ts.
 */
import source from '../../../../shaders/nn/embedding.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';
import type { WeightOperand } from './matmul.ts';

export const embeddingKernel = defineKernel({ name: 'nn/embedding', source, include: [WEIGHTS_WGSL] });

/** ids [T] u32 (checked < V by the caller), table [V, H] packed, h [T, H] f32. */
export function recordEmbedding(rec: Recorder, ids: GPUBuffer, table: WeightOperand, h: GPUBuffer, tokens: number, hidden: number, multiplier = 1): void {
  rec.dispatch(embeddingKernel, {
    bindings: { ids, table: table.buffer, h },
    params: { tokens, hidden, multiplier },
    constants: { WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[table.dtype] },
    workgroups: grid1d(tokens * hidden, 256),
  });
}
