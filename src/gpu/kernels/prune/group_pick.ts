/**
 * Host for shaders/prune/group_pick.wgsl: picks every group's radix digit of one pass.
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/group_pick.wgsl';
import { defineKernel } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';
import { RADIX_INCLUDES } from './score.ts';

export const pruneGroupPickKernel = defineKernel({ name: 'prune/group_pick', source, include: RADIX_INCLUDES });

export function recordGroupPick(rec: Recorder, groups: number, pass: number, groupState: GPUBuffer, histograms: GPUBuffer): void {
  rec.dispatch(pruneGroupPickKernel, {
    bindings: { group_state: groupState, histograms },
    params: { radix_pass: pass },
    workgroups: [groups],
  });
}
