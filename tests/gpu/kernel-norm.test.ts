/** nn/norm (RMSNorm, LayerNorm with bias, clip) and nn/embedding against the CPU reference. */
import { describe, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { embedding, layerNorm, rmsNorm } from '../../src/engine/reference/ops.ts';
import { recordEmbedding } from '../../src/gpu/kernels/nn/embedding.ts';
import { recordNorm } from '../../src/gpu/kernels/nn/norm.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { DTYPES, f64, normals, uploadWeights } from './kernel-harness.ts';

describe('kernel nn/norm', () => {
  // Widths below, at and above the workgroup sizes (64 / 256 threads), none a multiple of them.
  it.each([
    ['rms', 37, 17],
    ['rms', 5, 1037],
    ['layer', 29, 45],
    ['layer', 3, 700],
  ] as const)('%s norm over %i rows of %i matches the reference', async (kind, rows, width) => {
    const ctx = await gpu();
    const rng = createRng(rows * width);
    const x = normals(rng, rows * width, 3).map((v) => v + 0.7); // an offset so LayerNorm's mean matters
    const weight = normals(rng, width, 0.1).map((v) => v + 1);
    const bias = kind === 'layer' ? normals(rng, width, 0.1) : null;
    for (const clip of [null, 0.8]) {
      const got = await withinErrorScopes(ctx, async () => {
        const xb = await ctx.upload('x', x);
        const wb = await ctx.upload('weight', weight);
        const bb = bias ? await ctx.upload('bias', bias) : null;
        const y = ctx.createBuffer('y', x.byteLength);
        const rec = ctx.record();
        recordNorm(rec, { x: xb, y, weight: wb, bias: bb, kind, rows, width, eps: 1e-5, clip });
        await rec.submit();
        const out = await ctx.readF32(y);
        for (const b of [xb, wb, bb, y]) b?.destroy();
        return out;
      });
      let ref = kind === 'layer' ? layerNorm(f64(x), rows, width, weight, bias, 1e-5) : rmsNorm(f64(x), rows, width, weight, 1e-5);
      if (clip !== null) ref = ref.map((v) => Math.min(clip, Math.max(-clip, v)));
      expectClose(got, ref, { atol: 1e-5, rtol: 1e-5, label: `${kind} norm clip ${clip}` });
    }
  });
});

describe('kernel nn/embedding', () => {
  it.each(DTYPES)('gathers rows of a %s table with the multiplier', async (dtype) => {
    const ctx = await gpu();
    const rng = createRng(3);
    const [V, H, T] = [51, 19, 23];
    const table = normals(rng, V * H);
    const ids = Uint32Array.from({ length: T }, () => rng.int(V));
    ids[0] = V - 1;
    const got = await withinErrorScopes(ctx, async () => {
      const weights = await uploadWeights(ctx, table, dtype);
      const idb = await ctx.upload('ids', ids);
      const h = ctx.createBuffer('h', T * H * 4);
      const rec = ctx.record();
      recordEmbedding(rec, idb, weights.operand, h, T, H, 12);
      await rec.submit();
      const out = await ctx.readF32(h);
      idb.destroy();
      h.destroy();
      weights.destroy();
      return { out, seen: weights.seen };
    });
    const ref = embedding(got.seen, ids, H, 12);
    expectClose(got.out, ref, { atol: 0, rtol: 1e-6, label: `embedding ${dtype}` });
  });
});
