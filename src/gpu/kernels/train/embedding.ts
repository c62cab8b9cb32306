/**
 * Host for shaders/train/embedding.wgsl: token embedding gather and its deterministic backward.
 * CPU reference: `embeddingLookup` in src/engine/reference/train/ops.ts.
 */
import source from '../../../../shaders/train/embedding.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { gridRows } from '../../train/grid.ts';

export const embeddingKernels = {
  forward: defineKernel({ name: 'train/embedding-forward', source, entryPoint: 'forward' }),
  backward: defineKernel({ name: 'train/embedding-backward', source, entryPoint: 'backward' }),
};

export interface EmbeddingShape {
  tokens: number; // T
  hidden: number; // H
  vocab: number; // V
  /** Element offset of embed [V, H] in the table / gradient buffer. */
  embedOffset: number;
}

/** x [T, H] = table[embedOffset + ids[t] * H ...]. `starts` is any buffer (unused). */
export function recordEmbeddingForward(rec: Recorder, s: EmbeddingShape, ids: GPUBuffer, table: GPUBuffer, x: GPUBuffer): void {
  rec.dispatch(embeddingKernels.forward, {
    bindings: { ids, starts: ids, source: table, dest: x },
    params: { tokens: s.tokens, hidden: s.hidden, vocab: s.vocab, embed_offset: s.embedOffset },
    workgroups: gridRows(s.hidden, s.tokens),
  });
}

/** grads[embedOffset ...] [V, H] = per-id sums of dx [T, H]; order [T] positions sorted by id, starts [V + 1]. */
export function recordEmbeddingBackward(rec: Recorder, s: EmbeddingShape, order: GPUBuffer, starts: GPUBuffer, dx: GPUBuffer, grads: GPUBuffer): void {
  rec.dispatch(embeddingKernels.backward, {
    bindings: { ids: order, starts, source: dx, dest: grads },
    params: { tokens: s.tokens, hidden: s.hidden, vocab: s.vocab, embed_offset: s.embedOffset },
    workgroups: gridRows(s.hidden, s.vocab),
  });
}
