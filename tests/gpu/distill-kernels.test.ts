/**
 * The distillation kernels (shaders/distill/*) against their CPU references (src/engine/reference/distill/kernels.ts):
 * expert rows gathered from an inference routing (empty slots, an expert without rows), the per-expert products
 * (rows x W_e^T, W_e itself through strides, per-expert outer products), per-expert MSE over row segments, their
 * sum, its gradient, and masked AdamW (pruned weights exactly 0 with zero moments, frozen weights untouched).
 */
import { describe, expect, it } from 'vitest';
import {
  expertGradReference,
  expertMseReference,
  expertOuterReference,
  expertRowsMatmulReference,
  expertRowsReference,
  maskedAdamWReference,
} from '../../src/engine/reference/distill/kernels.ts';
import { createRng } from '../../src/engine/random.ts';
import { recordExpertGrad, recordExpertMse, recordExpertTotal } from '../../src/gpu/kernels/distill/expert_mse.ts';
import { recordExpertOuter, recordExpertRowsMatmul } from '../../src/gpu/kernels/distill/expert_matmul.ts';
import { recordExpertRows } from '../../src/gpu/kernels/distill/expert_rows.ts';
import { recordMaskedAdamW } from '../../src/gpu/kernels/distill/masked_adamw.ts';
import { NORM_LANES } from '../../src/gpu/kernels/train/adamw.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

/** A table as expert_rows.wgsl writes it: contiguous segments of the given row counts, then rows of nobody. */
function dispatchTable(counts: number[]): { table: Uint32Array; rows: number } {
  const E = counts.length;
  const table = new Uint32Array(2 * E);
  let start = 0;
  counts.forEach((n, e) => {
    table[e] = start;
    table[E + e] = n;
    start += n;
  });
  return { table, rows: start + 5 };
}

/** A random routing of T tokens to K of E experts as the inference dispatch lays it out, some slots empty. */
function randomRouting(rng: ReturnType<typeof createRng>, T: number, E: number, K: number, emptyExpert: number) {
  const assignments: [number, number][] = []; // [expert, a = t K + slot]
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    for (let k = 0; k < K; k++) {
      if (rng.next() < 0.1) continue; // an empty slot
      let e = rng.int(E);
      while (e === emptyExpert || chosen.has(e)) e = (e + 1) % E;
      chosen.add(e);
      assignments.push([e, t * K + k]);
    }
  }
  assignments.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const offsets = new Uint32Array(E + 1);
  for (const [e] of assignments) offsets[e + 1]++;
  for (let e = 0; e < E; e++) offsets[e + 1] += offsets[e];
  const sortedRows = new Uint32Array(T * K).fill(0xffffffff);
  assignments.forEach(([, a], r) => (sortedRows[r] = a));
  return { offsets, sortedRows };
}

describe('distillation kernels', () => {
  it('gather expert rows and the per-expert products match the CPU reference', async () => {
    const ctx = await gpu();
    const rng = createRng(11);
    const [T, H, E, K, I] = [37, 24, 6, 2, 20];
    const R = T * K;
    const x = Float32Array.from({ length: T * H }, () => rng.normal());
    const { offsets, sortedRows } = randomRouting(rng, T, E, K, 3);
    const w = Float32Array.from({ length: 3 * E * I * H }, () => rng.normal());
    const ref = expertRowsReference(x, sortedRows, offsets, T, H, E, K);
    expect(ref.table[E + 3]).toBe(0);
    expect(offsets[E]).toBeLessThan(R);
    const a = Float32Array.from({ length: R * I }, () => rng.normal());
    const got = await withinErrorScopes(ctx, async () => {
      const b = {
        x: await ctx.upload('x', x),
        sorted: await ctx.upload('sorted rows', sortedRows),
        offsets: await ctx.upload('offsets', offsets),
        xRows: ctx.createBuffer('x rows', R * H * 4),
        rowExpert: ctx.createBuffer('row expert', R * 4),
        table: ctx.createBuffer('table', 2 * E * 4),
        w: await ctx.upload('w', w),
        a: await ctx.upload('a', a),
        gu: ctx.createBuffer('gu', R * 2 * I * 4),
        dAct: ctx.createBuffer('d act', R * I * 4),
        gradGu: ctx.createBuffer('grad', 3 * E * I * H * 4),
      };
      const rec = ctx.record();
      recordExpertRows(rec, { tokens: T, width: H, experts: E, topK: K, x: b.x, sortedRows: b.sorted, offsets: b.offsets }, b);
      recordExpertRowsMatmul(
        rec,
        { rows: R, n: 2 * I, k: H, experts: E },
        b.xRows,
        { buffer: b.w, offset: 0, expert: 2 * I * H, n: H, k: 1 },
        b.rowExpert,
        b.gu,
      );
      // W_e itself: down [H, I] read as (n = i, k = h), on rows of width H (x rows stand in for delta).
      const down = { buffer: b.w, offset: 2 * E * I * H, expert: H * I, n: 1, k: I };
      recordExpertRowsMatmul(rec, { rows: R, n: I, k: H, experts: E }, b.xRows, down, b.rowExpert, b.dAct);
      recordExpertOuter(rec, { m: I, n: H, experts: E }, b.a, b.xRows, b.table, b.gradGu, 7);
      await rec.submit();
      const result = {
        xRows: await ctx.readF32(b.xRows),
        rowExpert: await ctx.readU32(b.rowExpert),
        table: await ctx.readU32(b.table),
        gu: await ctx.readF32(b.gu),
        dAct: await ctx.readF32(b.dAct),
        outer: (await ctx.readF32(b.gradGu)).slice(7, 7 + E * I * H),
      };
      for (const buffer of Object.values(b)) buffer.destroy();
      return result;
    });
    expect(Array.from(got.table)).toEqual(Array.from(ref.table));
    expect(Array.from(got.rowExpert)).toEqual(Array.from(ref.rowExpert));
    expect(Array.from(got.xRows)).toEqual(Array.from(ref.xRows)); // a copy: exact
    const gu = expertRowsMatmulReference(ref.xRows, w, ref.rowExpert, { rows: R, n: 2 * I, k: H, offset: 0, expert: 2 * I * H, wn: H, wk: 1 });
    expectClose(got.gu, gu, { atol: 1e-5, rtol: 1e-5, label: 'rows x W_e^T' });
    const dAct = expertRowsMatmulReference(ref.xRows, w, ref.rowExpert, { rows: R, n: I, k: H, offset: 2 * E * I * H, expert: H * I, wn: 1, wk: I });
    expectClose(got.dAct, dAct, { atol: 1e-5, rtol: 1e-5, label: 'rows x W_e' });
    expectClose(got.outer, expertOuterReference(a, ref.xRows, ref.table, I, H, E), { atol: 1e-4, rtol: 1e-5, label: 'per-expert outer products' });
    expect(got.outer.slice(3 * I * H, 4 * I * H).every((v) => v === 0)).toBe(true); // the expert without rows
  });

  it('expert MSE, its total and its gradient match the CPU reference', async () => {
    const ctx = await gpu();
    const rng = createRng(5);
    const counts = [13, 0, 8, 1, 40, 7];
    const E = counts.length;
    const H = 72;
    const { table, rows: R } = dispatchTable(counts);
    const student = Float32Array.from({ length: R * H }, () => rng.normal());
    const teacher = Float32Array.from({ length: R * H }, () => rng.normal());
    const got = await withinErrorScopes(ctx, async () => {
      const buffers = {
        table: await ctx.upload('table', table),
        student: await ctx.upload('student', student),
        teacher: await ctx.upload('teacher', teacher),
        mse: ctx.createBuffer('mse', 2 * E * 4),
        out: ctx.createBuffer('out', 4 * 4),
        delta: ctx.createBuffer('delta', R * H * 4),
      };
      const b = buffers;
      const rec = ctx.record();
      recordExpertMse(rec, { experts: E, width: H, rows: R }, b.table, b.student, b.teacher, b.mse, E);
      recordExpertTotal(rec, b.mse, E, E, b.out, 2);
      recordExpertGrad(rec, { experts: E, width: H, rows: R }, b.table, b.student, b.teacher, b.delta);
      await rec.submit();
      const result = {
        mse: (await ctx.readF32(b.mse)).slice(E),
        total: (await ctx.readF32(b.out))[2],
        delta: await ctx.readF32(b.delta),
      };
      for (const buffer of Object.values(buffers)) buffer.destroy();
      return result;
    });
    const mse = expertMseReference(table, student, teacher, E, H);
    expectClose(got.mse, mse, { atol: 1e-6, rtol: 1e-5, label: 'mse' });
    expect(got.mse[1]).toBe(0);
    expectClose([got.total], [mse.reduce((a, b) => a + b, 0)], { atol: 1e-6, rtol: 1e-5, label: 'total' });
    expectClose(got.delta, expertGradReference(table, student, teacher, E, H), { atol: 1e-7, rtol: 1e-5, label: 'delta' });
    // Rows past the last segment are nobody's: their gradient is exactly 0.
    expect(got.delta.slice((R - 5) * H).every((v) => v === 0)).toBe(true);
  });

  it('masked AdamW moves only trainable kept weights and holds pruned ones at exactly 0', async () => {
    const ctx = await gpu();
    const rng = createRng(9);
    const P = 5003;
    const words = Math.ceil(P / 32);
    const kept = Uint32Array.from({ length: words }, () => rng.nextU32());
    const trainable = Uint32Array.from({ length: words }, () => rng.nextU32() | rng.nextU32());
    const update = kept.map((k, i) => k & trainable[i]);
    const grads = Float32Array.from({ length: P }, () => rng.normal());
    // Pruned weights arrive nonzero here, so the test sees the mask being applied.
    const weights = Float32Array.from({ length: P }, () => 0.1 * rng.normal());
    const moments = Float32Array.from({ length: 2 * P }, (_, i) => (i < P ? 0.01 * rng.normal() : 1e-4 * rng.next()));
    const settings = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 5 };
    const step = 3;
    const decayEnd = 4000;
    const got = await withinErrorScopes(ctx, async () => {
      const b = {
        grads: await ctx.upload('grads', grads),
        weights: await ctx.upload('weights', weights),
        moments: await ctx.upload('moments', moments),
        stats: ctx.createBuffer('stats', (1 + NORM_LANES) * 4),
        updateBits: await ctx.upload('update', update),
        keptBits: await ctx.upload('kept', kept),
      };
      const rec = ctx.record();
      recordMaskedAdamW(rec, P, decayEnd, step, settings, b);
      await rec.submit();
      const result = { weights: await ctx.readF32(b.weights), moments: await ctx.readF32(b.moments), norm: (await ctx.readF32(b.stats, 0, 4))[0] };
      for (const buffer of Object.values(b)) buffer.destroy();
      return result;
    });
    const ref = maskedAdamWReference(grads, weights, moments, update, kept, { ...settings, step, decayEnd });
    expectClose([got.norm], [ref.norm], { rtol: 1e-5, label: 'gradient norm' });
    expect(ref.norm).toBeGreaterThan(settings.maxNorm); // clipping is exercised
    expectClose(got.weights, ref.weights, { atol: 1e-7, rtol: 1e-5, label: 'weights' });
    // m = 0.9 m + 0.1 g cancels: compare at f32 resolution of the summands (|m| ~ 1e-2).
    expectClose(got.moments, ref.moments, { atol: 5e-8, rtol: 1e-5, label: 'moments' });
    const bit = (bits: Uint32Array, i: number) => (bits[i >>> 5] >>> (i & 31)) & 1;
    let pruned = 0;
    let frozen = 0;
    for (let i = 0; i < P; i++) {
      if (!bit(kept, i)) {
        pruned++;
        if (got.weights[i] !== 0 || got.moments[i] !== 0 || got.moments[P + i] !== 0) throw new Error(`pruned element ${i} is not exactly 0`);
      } else if (!bit(trainable, i)) {
        frozen++;
        if (got.weights[i] !== weights[i] || got.moments[i] !== moments[i]) throw new Error(`frozen element ${i} changed`);
      }
    }
    expect(pruned).toBeGreaterThan(1000);
    expect(frozen).toBeGreaterThan(100);
  });
});
