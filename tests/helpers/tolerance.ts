/**
 * Tolerance comparison for kernel tests: |got - ref| <= atol + rtol * |ref| elementwise (docs/style.md).
 * On failure the message lists the first mismatches with their index, so a wrong stride shows at a glance.
 */
export interface Tolerance {
  atol?: number;
  rtol?: number;
  label?: string;
  /** How many mismatches to print. */
  show?: number;
}

export interface Comparison {
  ok: boolean;
  maxAbsDiff: number;
  maxRelDiff: number;
  mismatches: number;
  report: string;
}

export function compareArrays(
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  { atol = 1e-5, rtol = 1e-5, label = 'values', show = 8 }: Tolerance = {},
): Comparison {
  if (got.length !== ref.length) {
    return { ok: false, maxAbsDiff: Infinity, maxRelDiff: Infinity, mismatches: -1, report: `${label}: length ${got.length} != ${ref.length}` };
  }
  let maxAbsDiff = 0;
  let maxRelDiff = 0;
  let mismatches = 0;
  const lines: string[] = [];
  for (let i = 0; i < got.length; i++) {
    const g = got[i];
    const r = ref[i];
    const diff = Math.abs(g - r);
    const bad = !(diff <= atol + rtol * Math.abs(r)) || Number.isNaN(g) !== Number.isNaN(r);
    if (Number.isFinite(diff)) {
      maxAbsDiff = Math.max(maxAbsDiff, diff);
      if (r !== 0) maxRelDiff = Math.max(maxRelDiff, diff / Math.abs(r));
    }
    if (bad) {
      mismatches++;
      if (lines.length < show) lines.push(`  [${i}] got ${g} expected ${r} (|diff| ${diff.toExponential(3)})`);
    }
  }
  const summary = `${label}: ${mismatches} of ${got.length} outside atol ${atol} + rtol ${rtol}; max |diff| ${maxAbsDiff.toExponential(3)}`;
  return { ok: mismatches === 0, maxAbsDiff, maxRelDiff, mismatches, report: [summary, ...lines].join('\n') };
}

/** Throws with the mismatch report when `got` is not within tolerance of `ref`. */
export function expectClose(got: ArrayLike<number>, ref: ArrayLike<number>, tolerance: Tolerance = {}): Comparison {
  const result = compareArrays(got, ref, tolerance);
  if (!result.ok) throw new Error(result.report);
  return result;
}
