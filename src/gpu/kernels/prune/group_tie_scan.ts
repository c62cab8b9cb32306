/**
 * Host for shaders/prune/group_tie_scan.wgsl: per group, ties before each chunk (exclusive scan in place).
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/group_tie_scan.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { RADIX_INCLUDES } from './score.ts';

export const pruneGroupTieScanKernel = defineKernel({ name: 'prune/group_tie_scan', source, include: RADIX_INCLUDES });

/** group_chunks [groups, 2] u32: first chunk and chunk count of each group in `tieCounts`. */
export function recordGroupTieScan(rec: Recorder, groups: number, groupChunks: GPUBuffer, tieCounts: GPUBuffer): void {
  rec.dispatch(pruneGroupTieScanKernel, {
    bindings: { group_chunks: groupChunks, tie_counts: tieCounts },
    workgroups: [groups],
  });
}
