/** nn/head_copy against headCopy: MLA's slices (a per-head slice, a broadcast head, a token-row slice), exact. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { headCopy, type HeadCopyLayout } from '../../src/engine/reference/nn/head-copy.ts';
import { recordHeadCopy } from '../../src/gpu/kernels/nn/head_copy.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { normals } from './kernel-harness.ts';

const [T, Hq, dn, dv, r, dr] = [37, 3, 5, 4, 6, 2];
const D = dn + dr;
const CASES: [string, number, number, HeadCopyLayout][] = [
  [
    'k_nope out of kv [T, Hq, dn + dv]',
    T * Hq * (dn + dv),
    T * Hq * D,
    {
      tokens: T,
      heads: Hq,
      width: dn,
      inTokenStride: Hq * (dn + dv),
      inHeadStride: dn + dv,
      inOffset: 0,
      outTokenStride: Hq * D,
      outHeadStride: D,
      outOffset: 0,
    },
  ],
  [
    'the rope key broadcast to every head',
    T * (r + dr),
    T * Hq * D,
    { tokens: T, heads: Hq, width: dr, inTokenStride: r + dr, inHeadStride: 0, inOffset: r, outTokenStride: Hq * D, outHeadStride: D, outOffset: dn },
  ],
  [
    'the latent out of [T, r + dr]',
    T * (r + dr),
    T * r,
    { tokens: T, heads: 1, width: r, inTokenStride: r + dr, inHeadStride: 0, inOffset: 0, outTokenStride: r, outHeadStride: 0, outOffset: 0 },
  ],
];

describe('kernel nn/head_copy', () => {
  it.each(CASES)('%s', async (_label, inSize, outSize, layout) => {
    const ctx = await gpu();
    const rng = createRng(inSize);
    const src = normals(rng, inSize);
    const dst = normals(rng, outSize); // elements outside the slices must survive
    const got = await withinErrorScopes(ctx, async () => {
      const [sb, db] = [await ctx.upload('src', src), await ctx.upload('dst', dst)];
      const rec = ctx.record();
      recordHeadCopy(rec, sb, db, layout);
      await rec.submit();
      const out = await ctx.readF32(db);
      sb.destroy();
      db.destroy();
      return out;
    });
    const ref = Float32Array.from(dst);
    headCopy(src, ref, layout);
    expect(Array.from(got)).toEqual(Array.from(ref));
  });
});
