/**
 * SparseGPT's inverse-Hessian factor on the GPU (src/gpu/sparsegpt/factor.ts: prepare, blocked Cholesky, triangular
 * inverse, store) against the f64 CPU reference (inverseHessianFactor of scaledHessian). Widths that are and are not
 * multiples of the 32-wide blocks, a batch of factors with a dead input and one with no calibration rows, and a
 * matrix that is not positive definite without dampening.
 */
import { describe, expect, it } from 'vitest';
import { inverseHessianFactor, scaledHessian } from '../../src/engine/reference/sparsegpt/matrix.ts';
import { checkFactorStatus, recordInverseHessianFactor } from '../../src/gpu/sparsegpt/factor.ts';
import { compareArrays } from '../helpers/tolerance.ts';
import { rawSums } from './sparsegpt-helpers.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

async function gpuFactor(sums: Float32Array[], C: number, tokens: number[], damp: number) {
  const ctx = await gpu();
  return withinErrorScopes(ctx, async () => {
    const all = new Float32Array(1 + sums.length * C * C); // one element of lead: hessianBase is honoured
    sums.forEach((s, f) => all.set(s, 1 + f * C * C));
    const hessian = await ctx.upload('S', all);
    const rec = ctx.record('factor');
    const { factor, release } = recordInverseHessianFactor(ctx, rec, { label: 'test', hessian, hessianBase: 1, cols: C, tokens, damp });
    await rec.submit();
    try {
      const U = await ctx.readF32(factor.factor);
      const dead = await ctx.readU32(factor.dead);
      const status = await checkFactorStatus(ctx, factor, damp).then(
        () => null,
        (e: Error) => e,
      );
      return { U, dead, status };
    } finally {
      release();
      factor.destroy();
      hessian.destroy();
    }
  });
}

describe('SparseGPT inverse-Hessian factor on the GPU', () => {
  for (const C of [32, 40, 64, 100]) {
    it(`equals the f64 reference for C = ${C} (3 factors: plain, a dead input, no calibration rows)`, async () => {
      const n = 3 * C;
      const sums = [rawSums(C, n, C), rawSums(C, n, C + 1, 5), new Float32Array(C * C)];
      const tokens = [n, n, 0];
      const { U, dead, status } = await gpuFactor(sums, C, tokens, 0.01);
      expect(status).toBeNull();
      sums.forEach((s, f) => {
        const ref = inverseHessianFactor(scaledHessian(s, C, tokens[f]), C, 0.01);
        const got = U.subarray(f * C * C, (f + 1) * C * C);
        const scale = Math.max(...ref.U.map(Math.abs));
        const cmp = compareArrays(got, ref.U, { atol: 2e-5 * scale, rtol: 1e-4, label: `factor ${f} U` });
        console.log(`C=${C} factor ${f}: max |U - U_ref| / max|U_ref| = ${(cmp.maxAbsDiff / scale).toExponential(2)}`);
        expect(cmp.ok, cmp.report).toBe(true);
        expect(Array.from(dead.subarray(f * C, (f + 1) * C))).toEqual(ref.dead.map((d) => (d && tokens[f] > 0 ? 1 : 0)));
      });
      expect(dead[C + 5]).toBe(1);
    });
  }

  it('reports a matrix that is not positive definite without dampening', async () => {
    const C = 40;
    // Rank-deficient: fewer rows than columns, no dampening.
    const { status } = await gpuFactor([rawSums(C, 8, 9)], C, [8], 0);
    expect(status?.message).toMatch(/test: matrix 0 is not positive definite after dampening 0 .*raise --damp/);
  });
});
