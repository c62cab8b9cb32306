/**
 * eval/fidelity against the CPU reference fidelityOfRow: KL(p_dense || p_pruned) to tolerance, both argmaxes bit for
 * bit with ties to the lowest token id; chunked rows, a vocab not a multiple of 256, logits large enough that a
 * naive exp would overflow, equal rows (KL exactly 0) and rows whose maximum appears several times.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { fidelityOfRows } from '../../src/engine/reference/eval/fidelity.ts';
import { recordFidelity } from '../../src/gpu/kernels/eval/fidelity.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { normals } from './kernel-harness.ts';

describe('kernel eval/fidelity', () => {
  it('computes KL(p || q) and the lowest-index argmax of both rows, chunk by chunk', async () => {
    const ctx = await gpu();
    const rng = createRng(16);
    const [T, V, chunk] = [29, 1031, 8];
    const dense = normals(rng, T * V, 4).map((v) => v + 100);
    // The pruned rows: the dense ones plus noise of growing size (row 0 equal: KL 0), some rows shifted by a constant
    // (the same distribution: KL ~ 0 up to rounding).
    const pruned = Float32Array.from(dense, (v, i) => {
      const t = Math.floor(i / V);
      return t === 0 ? v : t % 5 === 1 ? v + 7 : v + (t / T) * 3 * (rng.next() * 2 - 1);
    });
    // Ties: rows whose maximum appears at several ids (the lowest must win), in one model or both.
    for (const [t, ids, which] of [
      [2, [5, 700, 1030], 'dense'],
      [3, [0, 1], 'both'],
      [4, [1030, 300], 'pruned'],
      [6, [255, 256, 511], 'both'],
    ] as const) {
      for (const id of ids) {
        if (which !== 'pruned') dense[t * V + id] = 200;
        if (which !== 'dense') pruned[t * V + id] = 200;
      }
    }
    const got = await withinErrorScopes(ctx, async () => {
      const denseChunk = ctx.createBuffer('dense chunk', chunk * V * 4);
      const prunedChunk = ctx.createBuffer('pruned chunk', chunk * V * 4);
      const out = { kl: ctx.createBuffer('kl', T * 4), denseTop: ctx.createBuffer('dense top', T * 4), prunedTop: ctx.createBuffer('pruned top', T * 4) };
      for (let first = 0; first < T; first += chunk) {
        const rows = Math.min(chunk, T - first);
        ctx.write(denseChunk, dense.subarray(first * V, (first + rows) * V));
        ctx.write(prunedChunk, pruned.subarray(first * V, (first + rows) * V));
        const rec = ctx.record();
        recordFidelity(rec, denseChunk, prunedChunk, out, rows, V, first);
        await rec.submit();
      }
      const result = { kl: await ctx.readF32(out.kl), denseTop: await ctx.readU32(out.denseTop), prunedTop: await ctx.readU32(out.prunedTop) };
      for (const b of [denseChunk, prunedChunk, out.kl, out.denseTop, out.prunedTop]) b.destroy();
      return result;
    });
    const ref = fidelityOfRows(dense, pruned, T, V);
    expect(got.kl[0]).toBe(0);
    expect(ref[2].denseTop).toBe(5);
    expect(ref[4].prunedTop).toBe(300);
    expectClose(
      got.kl,
      ref.map((r) => r.kl),
      { atol: 2e-5, rtol: 1e-4, label: 'kl' },
    );
    expect(Array.from(got.denseTop)).toEqual(ref.map((r) => r.denseTop));
    expect(Array.from(got.prunedTop)).toEqual(ref.map((r) => r.prunedTop));
  });
});
