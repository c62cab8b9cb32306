/**
 * The shape side of a pruning request, shared by the CPU reference and the GPU host: which matrices compete
 * together and the limits both paths enforce.
 */
import { PruneRequestError, type PruneGroup, type PruneSettings } from './settings.ts';

export interface PruneMatrixShape {
  /** Names the matrix in errors and reports, e.g. 'layers.0.experts.3.down'. */
  label: string;
  rows: number;
  cols: number;
  /** Group 'layer': matrices with the same id compete together, concatenated in request order. Default 0. */
  layerGroup?: number;
  /** Stream id of the random method's hash (different matrices get different draws). Default: request index. */
  randomStream?: number;
}

/** Counters on the GPU are u32: a comparison group holds fewer than 2^32 weights. */
export const MAX_GROUP_ELEMENTS = 0xffffffff;

/** Throws PruneRequestError naming the matrix when a shape cannot be pruned under `settings`. */
export function checkMatrixShapes(settings: PruneSettings, matrices: readonly PruneMatrixShape[]): void {
  for (const m of matrices) {
    if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 1 || m.cols < 1) {
      throw new PruneRequestError(`${m.label}: shape [${m.rows}, ${m.cols}] is not a positive integer shape`);
    }
    if (m.rows * m.cols > MAX_GROUP_ELEMENTS) throw new PruneRequestError(`${m.label}: ${m.rows * m.cols} weights exceed the 2^32 - 1 a mask can index`);
    if (settings.pattern.kind === 'n:m' && m.cols % settings.pattern.m) {
      throw new PruneRequestError(`${m.label}: ${m.cols} columns are not a multiple of the N:M block ${settings.pattern.m}`);
    }
    const { layerGroup = 0, randomStream = 0 } = m;
    for (const [name, value] of [
      ['layerGroup', layerGroup],
      ['randomStream', randomStream],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new PruneRequestError(`${m.label}: ${name} ${value} is not a u32`);
    }
  }
  for (const members of comparisonGroups(settings.group, matrices)) {
    const total = members.reduce((n, i) => n + matrices[i].rows * matrices[i].cols, 0);
    if (total > MAX_GROUP_ELEMENTS) throw new PruneRequestError(`layer group ${matrices[members[0]].layerGroup ?? 0}: ${total} weights exceed 2^32 - 1`);
  }
}

/**
 * Matrix indices per comparison group for the matrix and layer groups, each in request order (the order that
 * breaks ties across matrices): one group per matrix, or one per distinct `layerGroup` id in order of first use.
 * For 'row' every matrix is listed alone; its rows are the groups.
 */
export function comparisonGroups(group: PruneGroup, matrices: readonly PruneMatrixShape[]): number[][] {
  if (group !== 'layer') return matrices.map((_, i) => [i]);
  const byId = new Map<number, number[]>();
  matrices.forEach((m, i) => {
    const id = m.layerGroup ?? 0;
    byId.set(id, [...(byId.get(id) ?? []), i]);
  });
  return [...byId.values()];
}
