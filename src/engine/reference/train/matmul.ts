/**
 * CPU reference (f64 accumulation) of shaders/train/matmul.wgsl: C = alpha * A . B (+ C) over strided views,
 * with the same batch, causal and grouped-expert conventions, written to be obviously right.
 */

export interface StridedView {
  data: ArrayLike<number>;
  offset: number;
  row: number;
  col: number;
  outer: number;
  inner: number;
}

export interface ReferenceMatmul {
  M: number;
  N: number;
  K: number;
  a: StridedView;
  b: StridedView;
  /** Output view; `data` must be writable. */
  c: StridedView & { data: Float32Array | Float64Array };
  alpha: number;
  accumulate: boolean;
  batch: { outer: number; inner: number };
  causal: 'none' | 'skip-upper-tiles' | 'k-up-to-m' | 'k-from-m';
  /** Expert segments: starts (padded) and row counts. */
  grouped?: { mode: 'rows' | 'reduction'; starts: number[]; counts: number[] };
}

/** Fills `c` like the kernel; entries the kernel skips (above the diagonal with skip-upper-tiles) are left as they are. */
export function referenceMatmul(p: ReferenceMatmul): void {
  const at = (v: StridedView, z: { outer: number; inner: number }, r: number, c: number) =>
    v.offset + z.outer * v.outer + z.inner * v.inner + r * v.row + c * v.col;
  const run = (z: { outer: number; inner: number }, rows: [number, number], ks: (m: number) => [number, number], bShift: number, cShift: number) => {
    for (let m = rows[0]; m < rows[1]; m++) {
      for (let n = 0; n < p.N; n++) {
        if (p.causal === 'skip-upper-tiles' && n > m) continue;
        let [k0, k1] = ks(m);
        if (p.causal === 'k-up-to-m') k1 = Math.min(k1, m + 1);
        if (p.causal === 'k-from-m') k0 = Math.max(k0, m);
        let acc = 0;
        for (let k = k0; k < k1; k++) acc += p.a.data[at(p.a, z, m, k)] * p.b.data[at(p.b, z, k, n) + bShift];
        const ci = at(p.c, z, m, n) + cShift;
        p.c.data[ci] = p.alpha * acc + (p.accumulate ? p.c.data[ci] : 0);
      }
    }
  };
  if (!p.grouped) {
    for (let outer = 0; outer < p.batch.outer; outer++) {
      for (let inner = 0; inner < p.batch.inner; inner++) run({ outer, inner }, [0, p.M], () => [0, p.K], 0, 0);
    }
    return;
  }
  const { starts, counts } = p.grouped;
  const zero = { outer: 0, inner: 0 };
  starts.forEach((start, e) => {
    if (p.grouped!.mode === 'rows') run(zero, [start, start + counts[e]], () => [0, p.K], e * p.b.outer, 0);
    else run(zero, [0, p.M], () => [start, start + counts[e]], 0, e * p.c.outer);
  });
}
