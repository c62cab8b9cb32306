/** AdamW with global-norm clipping on the GPU against the CPU reference step, over several steps. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { adamwReferenceStep } from '../../src/engine/reference/train/adamw.ts';
import { NORM_LANES, recordAdamW } from '../../src/gpu/kernels/train/adamw.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

describe('train/adamw', () => {
  it('matches the reference for three steps, clipping on, decay only before decayEnd', async () => {
    const ctx = await gpu();
    const rng = createRng(9);
    const count = 3 * NORM_LANES + 123; // several elements per norm lane, not a multiple of anything
    const decayEnd = 5000;
    const settings = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1 };
    const params = Float64Array.from({ length: count }, () => rng.normal());
    const m = new Float64Array(count);
    const v = new Float64Array(count);
    const result = await withinErrorScopes(ctx, async () => {
      const weights = await ctx.upload('weights', Float32Array.from(params));
      const moments = ctx.createBuffer('moments', 2 * count * 4);
      const stats = ctx.createBuffer('stats', (1 + NORM_LANES) * 4);
      const gradBuffer = ctx.createBuffer('grads', count * 4);
      const norms: number[] = [];
      for (let step = 1; step <= 3; step++) {
        const grads = Float32Array.from({ length: count }, () => 0.05 * rng.normal());
        ctx.write(gradBuffer, grads);
        const rec = ctx.record();
        recordAdamW(rec, count, decayEnd, step, settings, gradBuffer, weights, moments, stats);
        await rec.submit();
        norms.push((await ctx.readF32(stats, 0, 4))[0]);
        expect(adamwReferenceStep(params, grads, m, v, step, decayEnd, settings)).toBeCloseTo(norms.at(-1)!, 3);
      }
      const out = { weights: await ctx.readF32(weights), moments: await ctx.readF32(moments), norms };
      for (const b of [weights, moments, stats, gradBuffer]) b.destroy();
      return out;
    });
    expect(result.norms[0]).toBeGreaterThan(settings.maxNorm); // the clip was active
    expectClose(result.weights, params, { atol: 1e-5, rtol: 1e-5, label: 'parameters' });
    expectClose(result.moments.subarray(0, count), m, { atol: 1e-7, rtol: 1e-4, label: 'first moment' });
    expectClose(result.moments.subarray(count), v, { atol: 1e-9, rtol: 1e-4, label: 'second moment' });
  });
});
