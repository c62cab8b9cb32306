/**
 * nn/matmul against the CPU reference `linear`: odd sizes, f32 and packed f16/bf16 weights, bias, mask, clip; both
 * matrix kernels (nn/matmul_subgroup where the device has subgroups, the nn/matmul tile fallback).
 */
import { describe, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { linear } from '../../src/engine/reference/ops.ts';
import { recordMatmul } from '../../src/gpu/kernels/nn/matmul.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpuWithMatrixKernels, withinErrorScopes } from './gpu-context.ts';
import { DTYPES, f64, normals, randomMask, uploadWeights } from './kernel-harness.ts';

const KINDS = ['subgroup', 'tile'] as const;

describe.each(KINDS)('kernel nn/matmul (%s kernels)', (kind) => {
  // K odd splits words (the subgroup kernel's unpaired path), K even pairs them; none a multiple of a tile.
  it.each(DTYPES.flatMap((dtype) => (kind === 'subgroup' ? [37, 38] : [37]).map((K) => [dtype, K] as const)))(
    'matches linear() with %s weights at odd sizes (K = %i), with bias, mask, scale, clip and a row offset',
    async (dtype, K) => {
      const ctx = await gpuWithMatrixKernels(kind);
      const rng = createRng(7);
      const [M, N, offset] = [70, 45, 3];
      const x = normals(rng, (M + offset) * K);
      const w = normals(rng, N * K, 1 / Math.sqrt(K));
      const bias = normals(rng, N);
      for (const withMask of [false, true]) {
        const mask = withMask ? randomMask(rng, N * K) : null;
        const got = await withinErrorScopes(ctx, async () => {
          const weights = await uploadWeights(ctx, w, dtype, mask);
          const xb = await ctx.upload('x', x);
          const bb = await ctx.upload('bias', bias);
          const y = ctx.createBuffer('y', M * N * 4);
          const rec = ctx.record();
          recordMatmul(rec, { x: xb, weight: weights.operand, bias: bb, y, rows: M, cols: N, inner: K, xRowOffset: offset, scale: 0.5, clip: 1.1 });
          await rec.submit();
          const out = await ctx.readF32(y);
          for (const b of [xb, bb, y]) b.destroy();
          weights.destroy();
          return { out, seen: weights.seen };
        });
        const ref = linear(f64(x.subarray(offset * K)), M, K, got.seen, N, bias).map((v) => Math.min(1.1, Math.max(-1.1, 0.5 * v)));
        expectClose(got.out, ref, { atol: 2e-5, rtol: 2e-5, label: `matmul ${kind} ${dtype} K ${K}${withMask ? ' masked' : ''}` });
      }
    },
  );

  it('handles a single row and a single column without bias (the shared-expert gate shape)', async () => {
    const ctx = await gpuWithMatrixKernels(kind);
    const rng = createRng(8);
    const [M, N, K] = [1, 1, 130];
    const x = normals(rng, M * K);
    const w = normals(rng, N * K);
    const out = await withinErrorScopes(ctx, async () => {
      const weights = await uploadWeights(ctx, w, 'f32');
      const xb = await ctx.upload('x', x);
      const y = ctx.createBuffer('y', 4);
      const rec = ctx.record();
      recordMatmul(rec, { x: xb, weight: weights.operand, y, rows: M, cols: N, inner: K });
      await rec.submit();
      const result = await ctx.readF32(y);
      xb.destroy();
      y.destroy();
      weights.destroy();
      return result;
    });
    expectClose(out, linear(f64(x), M, K, w, N), { atol: 1e-5, rtol: 1e-5, label: 'matmul 1x1' });
  });
});
