/**
 * The distillation kernels (shaders/distill/*) against their CPU references (src/engine/distill/kernels-reference.ts):
 * per-expert MSE over padded row segments (an expert with no rows included), their sum, the gradient term, masked
 * AdamW (pruned weights exactly 0 with zero moments, frozen weights untouched bit for bit), and the router mask.
 */
import { describe, expect, it } from 'vitest';
import { expertGradReference, expertMseReference, maskedAdamWReference, routerMaskReference } from '../../src/engine/distill/kernels-reference.ts';
import { createRng } from '../../src/engine/random.ts';
import { recordExpertGrad, recordExpertMse, recordExpertTotal } from '../../src/gpu/kernels/distill/expert_mse.ts';
import { recordMaskedAdamW } from '../../src/gpu/kernels/distill/masked_adamw.ts';
import { recordRouterMask } from '../../src/gpu/kernels/distill/router_mask.ts';
import { NORM_LANES } from '../../src/gpu/kernels/train/adamw.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

/** A dispatch table as moe_dispatch.wgsl writes it: 8-aligned segments of the given row counts. */
function dispatchTable(counts: number[]): { table: Uint32Array; rows: number } {
  const E = counts.length;
  const table = new Uint32Array(2 * E);
  let start = 0;
  counts.forEach((n, e) => {
    table[e] = start;
    table[E + e] = n;
    start += Math.ceil(n / 8) * 8;
  });
  return { table, rows: start + 8 };
}

describe('distillation kernels', () => {
  it('expert MSE, its total and its gradient match the CPU reference', async () => {
    const ctx = await gpu();
    const rng = createRng(5);
    const counts = [13, 0, 8, 1, 40, 7];
    const E = counts.length;
    const H = 72;
    const { table, rows: R } = dispatchTable(counts);
    const student = Float32Array.from({ length: R * H }, () => rng.normal());
    const teacher = Float32Array.from({ length: R * H }, () => rng.normal());
    const dStudent = Float32Array.from({ length: R * H }, () => rng.normal());
    const lambda = 0.37;
    const got = await withinErrorScopes(ctx, async () => {
      const buffers = {
        table: await ctx.upload('table', table),
        student: await ctx.upload('student', student),
        teacher: await ctx.upload('teacher', teacher),
        mse: ctx.createBuffer('mse', 2 * E * 4),
        out: ctx.createBuffer('out', 4 * 4),
        dStudent: await ctx.upload('d student', dStudent),
        delta: ctx.createBuffer('delta', R * H * 4),
        unused: ctx.createBuffer('unused', 16),
      };
      const b = buffers;
      const rec = ctx.record();
      recordExpertMse(rec, { experts: E, width: H, rows: R }, b.table, b.student, b.teacher, b.mse, E, b.unused);
      recordExpertTotal(rec, b.mse, E, E, b.out, 2, b.unused);
      recordExpertGrad(rec, { experts: E, width: H, rows: R }, lambda, b.table, b.student, b.teacher, b.dStudent, b.delta);
      await rec.submit();
      const result = {
        mse: (await ctx.readF32(b.mse)).slice(E),
        total: (await ctx.readF32(b.out))[2],
        dStudent: await ctx.readF32(b.dStudent),
        delta: await ctx.readF32(b.delta),
      };
      for (const buffer of Object.values(buffers)) buffer.destroy();
      return result;
    });
    const mse = expertMseReference(table, student, teacher, E, H);
    expectClose(got.mse, mse, { atol: 1e-6, rtol: 1e-5, label: 'mse' });
    expect(got.mse[1]).toBe(0);
    expectClose([got.total], [mse.reduce((a, b) => a + b, 0)], { atol: 1e-6, rtol: 1e-5, label: 'total' });
    const grad = expertGradReference(table, student, teacher, dStudent, E, H, lambda);
    expectClose(got.delta, grad.delta, { atol: 1e-7, rtol: 1e-5, label: 'delta' });
    expectClose(got.dStudent, grad.dStudent, { atol: 1e-6, rtol: 1e-5, label: 'd student' });
    // Padding rows are nobody's: their gradient is left exactly as it was.
    const padding = table[4] * H - 1; // last element of expert 3's padded segment (1 row of 8 used)
    expect(got.dStudent[padding]).toBe(dStudent[padding]);
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

  it('router mask sets dropped experts to -1e30 and leaves the others', async () => {
    const ctx = await gpu();
    const rng = createRng(2);
    const T = 77;
    const E = 8;
    const logits = Float32Array.from({ length: T * E }, () => rng.normal());
    const enabled = Uint32Array.from([1, 0, 1, 1, 0, 1, 1, 0]);
    const got = await withinErrorScopes(ctx, async () => {
      const l = await ctx.upload('logits', logits);
      const en = await ctx.upload('enabled', enabled);
      const rec = ctx.record();
      recordRouterMask(rec, T, E, en, l);
      await rec.submit();
      const result = await ctx.readF32(l);
      l.destroy();
      en.destroy();
      return result;
    });
    expect(Array.from(got)).toEqual(Array.from(routerMaskReference(logits, enabled, E)));
  });
});
