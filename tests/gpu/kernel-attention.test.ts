/**
 * nn/rope and nn/attention against the CPU reference (applyRope / applyRotary, causalAttention), per window; the
 * attention with both kernels (nn/attention_subgroup on lavapipe, nn/attention).
 */
import { describe, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { ropeFrequencies } from '../../src/engine/model/rope.ts';
import { applyRope, applyRotary, causalAttention } from '../../src/engine/reference/ops.ts';
import { ATTENTION_TILE_KEYS } from '../../src/gpu/context.ts';
import { recordAttention } from '../../src/gpu/kernels/nn/attention.ts';
import { recordRope, ropeCosSinTable } from '../../src/gpu/kernels/nn/rope.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, gpuWithMatrixKernels, withinErrorScopes } from './gpu-context.ts';
import { normals } from './kernel-harness.ts';

/** Runs `reference` on each window of `rowWidth`-float rows and concatenates the results. */
function perWindow(x: Float32Array, windows: number, rowsPerWindow: number, rowWidth: number, reference: (w: Float64Array) => Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  const size = rowsPerWindow * rowWidth;
  for (let b = 0; b < windows; b++) out.set(reference(Float64Array.from(x.subarray(b * size, (b + 1) * size))), b * size);
  return out;
}

describe('kernel nn/rope', () => {
  it('rotates [B * S, heads, D] with positions restarting in each window', async () => {
    const ctx = await gpu();
    const rng = createRng(11);
    const [B, S, heads, D, theta] = [3, 37, 3, 18, 10000];
    const x = normals(rng, B * S * heads * D);
    const got = await withinErrorScopes(ctx, async () => {
      const xb = await ctx.upload('x', x);
      const table = await ctx.upload('cos_sin', ropeCosSinTable(S, ropeFrequencies({ ropeTheta: theta, rope: { rotaryDim: D, pairs: 'half', yarn: null } })));
      const rec = ctx.record();
      recordRope(rec, { x: xb, cosSin: table, tokens: B * S, heads, headDim: D, seqLen: S });
      await rec.submit();
      const out = await ctx.readF32(xb);
      xb.destroy();
      table.destroy();
      return out;
    });
    const positions = Array.from({ length: S }, (_, t) => t);
    const ref = perWindow(x, B, S, heads * D, (w) => {
      applyRope(w, S, heads, D, positions, theta);
      return w;
    });
    expectClose(got, ref, { atol: 2e-6, rtol: 2e-6, label: 'rope' });
  });

  // GLM-4.5's partial rotary (first 8 of 16 dims, rotate-half); MLA's rope part after 10 nope dims of an 18-wide
  // head, interleaved pairs, YaRN frequencies with an attention factor.
  it.each([
    ['partial, half pairs', 16, 0, 8, 'half', null],
    [
      'offset, interleaved, YaRN',
      18,
      10,
      8,
      'interleaved',
      { factor: 4, originalMaxPositions: 16, betaFast: 32, betaSlow: 1, attentionFactor: 1.2, truncate: true },
    ],
  ] as const)('%s: matches applyRotary', async (_label, D, offset, rotaryDim, pairs, yarn) => {
    const ctx = await gpu();
    const rng = createRng(D + offset);
    const [B, S, heads] = [2, 21, 3];
    const x = normals(rng, B * S * heads * D);
    const freqs = ropeFrequencies({ ropeTheta: 10000, rope: { rotaryDim, pairs, yarn } });
    const got = await withinErrorScopes(ctx, async () => {
      const xb = await ctx.upload('x', x);
      const table = await ctx.upload('cos_sin', ropeCosSinTable(S, freqs));
      const rec = ctx.record();
      recordRope(rec, { x: xb, cosSin: table, tokens: B * S, heads, headDim: D, seqLen: S, rotaryDim, offset, pairs });
      await rec.submit();
      const out = await ctx.readF32(xb);
      xb.destroy();
      table.destroy();
      return out;
    });
    const ref = perWindow(x, B, S, heads * D, (w) => {
      applyRotary(w, S, heads, D, offset, freqs.invFreq, freqs.attentionFactor, pairs);
      return w;
    });
    expectClose(got, ref, { atol: 2e-6, rtol: 2e-6, label: 'rope' });
  });
});

// 'subgroup': nn/attention_subgroup where the device is a CPU driver with subgroups of 8 (lavapipe), else nn/attention;
// 'tile': nn/attention everywhere, with the key/value tiles of a CPU driver (8 keys) and of a GPU (32 keys).
describe.each([
  ['subgroup', undefined],
  ['tile', ATTENTION_TILE_KEYS.software],
  ['tile', ATTENTION_TILE_KEYS.gpu],
] as const)('kernel nn/attention (%s kernels, tiles of %s keys)', (kind, tileKeys) => {
  // S = 150 spans 3 query blocks and several key blocks (GPU tiles: 32 keys for D = 16, 16 for D = 128; CPU: 8).
  it.each([
    [2, 150, 4, 2, 16],
    [1, 70, 3, 1, 128],
    [3, 5, 2, 2, 8],
  ])('B=%i S=%i Hq=%i Hkv=%i D=%i matches causalAttention per window', async (B, S, Hq, Hkv, D) => {
    const ctx = await gpuWithMatrixKernels(kind);
    const rng = createRng(S * D);
    const T = B * S;
    const q = normals(rng, T * Hq * D, 2);
    const k = normals(rng, T * Hkv * D, 2);
    const v = normals(rng, T * Hkv * D);
    const scale = 1 / Math.sqrt(D);
    const got = await withinErrorScopes(ctx, async () => {
      const [qb, kb, vb] = await Promise.all([ctx.upload('q', q), ctx.upload('k', k), ctx.upload('v', v)]);
      const out = ctx.createBuffer('out', q.byteLength);
      const rec = ctx.record();
      recordAttention(rec, { q: qb, k: kb, v: vb, out, windows: B, seqLen: S, heads: Hq, kvHeads: Hkv, headDim: D, scale, tileKeys });
      await rec.submit();
      const result = await ctx.readF32(out);
      for (const b of [qb, kb, vb, out]) b.destroy();
      return result;
    });
    const ref = new Float64Array(T * Hq * D);
    for (let b = 0; b < B; b++) {
      const slice = (a: Float32Array, width: number) => Float64Array.from(a.subarray(b * S * width, (b + 1) * S * width));
      ref.set(causalAttention(slice(q, Hq * D), slice(k, Hkv * D), slice(v, Hkv * D), S, Hq, Hkv, D, scale), b * S * Hq * D);
    }
    expectClose(got, ref, { atol: 1e-5, rtol: 1e-5, label: `attention B${B} S${S} D${D}` });
  });

  // gpt_oss: a sliding window shorter than S (3, inside one key block; 40, across blocks and query blocks) and
  // per-head sinks, together and apart.
  it.each([
    [2, 150, 4, 2, 16, 40, true],
    [1, 70, 2, 1, 64, 3, false],
    [1, 90, 4, 2, 16, null, true],
  ])('B=%i S=%i Hq=%i Hkv=%i D=%i window %s sinks %s matches causalAttention', async (B, S, Hq, Hkv, D, sliding, withSinks) => {
    const ctx = await gpuWithMatrixKernels(kind);
    const rng = createRng(S * D + 1);
    const T = B * S;
    const q = normals(rng, T * Hq * D, 2);
    const k = normals(rng, T * Hkv * D, 2);
    const v = normals(rng, T * Hkv * D);
    const sinks = withSinks ? normals(rng, Hq, 2) : null;
    const scale = 1 / Math.sqrt(D);
    const got = await withinErrorScopes(ctx, async () => {
      const [qb, kb, vb] = await Promise.all([ctx.upload('q', q), ctx.upload('k', k), ctx.upload('v', v)]);
      const sb = sinks ? await ctx.upload('sinks', sinks) : null;
      const out = ctx.createBuffer('out', q.byteLength);
      const rec = ctx.record();
      recordAttention(rec, { q: qb, k: kb, v: vb, out, windows: B, seqLen: S, heads: Hq, kvHeads: Hkv, headDim: D, scale, sliding, sinks: sb, tileKeys });
      await rec.submit();
      const result = await ctx.readF32(out);
      for (const b of [qb, kb, vb, out, sb]) b?.destroy();
      return result;
    });
    const ref = new Float64Array(T * Hq * D);
    for (let b = 0; b < B; b++) {
      const slice = (a: Float32Array, width: number) => Float64Array.from(a.subarray(b * S * width, (b + 1) * S * width));
      ref.set(causalAttention(slice(q, Hq * D), slice(k, Hkv * D), slice(v, Hkv * D), S, Hq, Hkv, D, scale, D, sliding, sinks), b * S * Hq * D);
    }
    expectClose(got, ref, { atol: 1e-5, rtol: 1e-5, label: `attention window ${sliding} sinks ${withSinks}` });
  });
});
