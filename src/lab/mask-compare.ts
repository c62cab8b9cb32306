/**
 * Where two prunings disagree, on the page (src/engine/prune/mask-compare.ts; `moe-lab compare-masks` on files): the
 * masks in force (A) against the masks another request would make (B), computed on fresh masks as a sweep point
 * is, so the masks in force stay untouched. Both mask sets come back to the CPU and are compared bit by bit.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { CompareMasksRequest, MaskComparisonReport } from '../api/lab.ts';
import { compareMaskSets } from '../engine/prune/mask-compare.ts';
import { canonicalElements } from '../engine/prune/layer-plan.ts';
import type { LabSession } from './lab-session.ts';
import { pipeline } from './prune.ts';
import type { TextLibrary } from './texts.ts';

export async function runMaskComparison(
  session: LabSession,
  texts: TextLibrary,
  request: CompareMasksRequest,
  options: OperationOptions,
): Promise<MaskComparisonReport> {
  const inForce = session.masks;
  if (!inForce) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then compare with another method.' });
  const { spec } = session.loaded.summary;
  const a = await inForce.readMaskSet();
  const { run } = await pipeline(session, texts, request.other, options);
  try {
    const b = await run.readMaskSet();
    const comparison = compareMaskSets(a, b, { elements: (_, key) => canonicalElements(spec, key), numExperts: spec.numExperts });
    return { a: inForce.summary.method, b: request.other.method, comparison };
  } finally {
    run.destroy();
  }
}
