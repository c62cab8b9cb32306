/**
 * Host for shaders/prune/count_kept.wgsl: kept weights of a keep-mask, for achieved-sparsity reports.
 * CPU reference: `countKept` in src/engine/model/keep-mask.ts.
 */
import source from '../../../../shaders/prune/count_kept.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const pruneCountKeptKernel = defineKernel({ name: 'prune/count_kept', source });

/** Adds the set bits of mask words [maskWordBase, + ceil(elementCount / 32)) to keptCounts[slot] (u32). */
export function recordCountKept(rec: Recorder, mask: BufferBinding, maskWordBase: number, elementCount: number, keptCounts: GPUBuffer, slot: number): void {
  rec.dispatch(pruneCountKeptKernel, {
    bindings: { mask, kept_counts: keptCounts },
    params: { element_count: elementCount, mask_word_base: maskWordBase, slot },
    workgroups: grid1d(Math.ceil(elementCount / 32), 256),
  });
}
