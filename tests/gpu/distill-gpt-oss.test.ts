/**
 * Distillation of gpt_oss's experts, below the command: its kernels against their CPU references
 * (src/engine/reference/distill/kernels.ts) — train/swiglu's clamped variant forward and backward with a limit small enough that
 * both clamps act (no gradient through a clamped gate or up), and per-expert biases added on expert rows; the f64
 * layer objective with biases and the clamped activation against central finite differences; and one MoE layer's
 * GPU step (src/gpu/distill/distiller.ts with biases and the clamped SwiGLU) against that reference: loss, per-expert
 * MSE, the gradient of every weight and bias, pruned weights +0 with zero moments after every step, loss going down.
 */
import { describe, expect, it } from 'vitest';
import { expertParameterLayout } from '../../src/engine/distill/layout.ts';
import type { ExpertActivation } from '../../src/engine/model/spec.ts';
import { referenceLayerObjective } from '../../src/engine/reference/distill-layer.ts';
import { clampedSwigluBackwardReference, clampedSwigluReference, expertBiasReference } from '../../src/engine/reference/distill/kernels.ts';
import { createRng } from '../../src/engine/random.ts';
import { recordSwiGluBackward, recordSwiGluForward } from '../../src/gpu/kernels/train/swiglu.ts';
import { recordExpertBias } from '../../src/gpu/kernels/distill/expert_bias.ts';
import { centralDifference } from '../helpers/finite-differences.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { layerProblem, runLayerDistiller } from './distill-helpers.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const CLAMPED: Extract<ExpertActivation, { kind: 'clamped-swiglu' }> = { kind: 'clamped-swiglu', alpha: 1.702, limit: 0.8 };

describe('gpt_oss distillation kernels', () => {
  it('clamped SwiGLU forward and backward equal the reference, the clamps passing no gradient outside their range', async () => {
    const ctx = await gpu();
    const rng = createRng(21);
    const [R, I] = [37, 12];
    const gu = Float32Array.from({ length: R * 2 * I }, () => 1.5 * rng.normal());
    const dAct = Float32Array.from({ length: R * I }, () => rng.normal());
    const got = await withinErrorScopes(ctx, async () => {
      const guBuffer = await ctx.upload('gu', gu);
      const dActBuffer = await ctx.upload('d act', dAct);
      const act = ctx.createBuffer('act', R * I * 4);
      const dGu = ctx.createBuffer('d gu', R * 2 * I * 4);
      const rec = ctx.record();
      recordSwiGluForward(rec, R, I, guBuffer, act, dActBuffer, CLAMPED);
      recordSwiGluBackward(rec, R, I, guBuffer, dActBuffer, dGu, CLAMPED);
      await rec.submit();
      const out = { act: await ctx.readF32(act, 0, R * I * 4), dGu: await ctx.readF32(dGu, 0, R * 2 * I * 4) };
      for (const b of [guBuffer, dActBuffer, act, dGu]) b.destroy();
      return out;
    });
    expectClose(got.act, clampedSwigluReference(gu, R, I, CLAMPED), { atol: 1e-6, rtol: 1e-5, label: 'act' });
    const ref = clampedSwigluBackwardReference(gu, dAct, R, I, CLAMPED);
    expectClose(got.dGu, ref, { atol: 1e-6, rtol: 1e-5, label: 'd gu' });
    // Both clamps acted somewhere, and there the gradient is exactly 0.
    const clampedGate = [...Array(R * I).keys()].filter((j) => gu[Math.floor(j / I) * 2 * I + (j % I)] > CLAMPED.limit);
    const clampedUp = [...Array(R * I).keys()].filter((j) => Math.abs(gu[Math.floor(j / I) * 2 * I + I + (j % I)]) > CLAMPED.limit);
    expect(clampedGate.length).toBeGreaterThan(10);
    expect(clampedUp.length).toBeGreaterThan(10);
    for (const j of clampedGate) expect(got.dGu[Math.floor(j / I) * 2 * I + (j % I)]).toBe(0);
    for (const j of clampedUp) expect(got.dGu[Math.floor(j / I) * 2 * I + I + (j % I)]).toBe(0);
  });

  it('adds each expert row its expert bias, leaving rows of no expert as they are', async () => {
    const ctx = await gpu();
    const rng = createRng(22);
    const [R, N, E, offset] = [23, 70, 4, 9];
    const y = Float32Array.from({ length: R * N }, () => rng.normal());
    const bias = Float32Array.from({ length: offset + E * N }, () => rng.normal());
    const rowExpert = Uint32Array.from({ length: R }, (_, r) => (r % 5 === 4 ? 0xffffffff : r % E));
    const got = await withinErrorScopes(ctx, async () => {
      const [yBuffer, biasBuffer, rowBuffer] = [await ctx.upload('y', y), await ctx.upload('bias', bias), await ctx.upload('row expert', rowExpert)];
      const rec = ctx.record();
      recordExpertBias(rec, { rows: R, n: N }, biasBuffer, offset, rowBuffer, yBuffer);
      await rec.submit();
      const out = await ctx.readF32(yBuffer, 0, R * N * 4);
      for (const b of [yBuffer, biasBuffer, rowBuffer]) b.destroy();
      return out;
    });
    expectClose(got, expertBiasReference(y, bias, rowExpert, N, offset), { atol: 1e-6, rtol: 1e-6, label: 'y + bias' });
    expect(Array.from(got.subarray(4 * N, 5 * N))).toEqual(Array.from(y.subarray(4 * N, 5 * N)));
  });
});

describe('a gpt_oss MoE layer distillation step', () => {
  it('the f64 objective with biases and the clamped SwiGLU matches central finite differences', () => {
    const rng = createRng(9);
    const [E, H, I, T] = [3, 5, 4, 7];
    const shape = { E, H, I, biases: true, activation: CLAMPED };
    const layout = expertParameterLayout({ E, H, I, biases: true });
    const teacher = Float64Array.from({ length: layout.count }, () => rng.normal() / 2);
    const student = Float64Array.from(teacher, (v) => v + 0.2 * rng.normal());
    const x = Float64Array.from({ length: T * H }, () => rng.normal());
    const routing = { tokens: [[0, 2, 3], [], [1, 2, 4, 5, 6]] };
    const { grad, mse } = referenceLayerObjective(student, teacher, x, routing, shape);
    expect(mse[1]).toBe(0);
    const at = [0, 7, I * H + 3, 2 * 2 * I * H + 11, layout.down, layout.down + 2 * H * I + 9, layout.gateUpBias, layout.gateUpBias + 2 * 2 * I + 5];
    at.push(layout.gateUpBias + 2 * 2 * I + I + 1, layout.downBias + 2 * H + 3, layout.downBias + 4);
    let zero = 0;
    for (const i of at) {
      const fd = centralDifference((w) => referenceLayerObjective(w, teacher, x, routing, shape).loss, student, i);
      expect(grad[i], `parameter ${i}`).toBeCloseTo(fd, 7);
      if (grad[i] === 0) zero++;
    }
    expect(zero).toBeLessThan(at.length);
    // Expert 1 got no rows: no gradient, biases included.
    expect(grad.slice(2 * I * H, 4 * I * H).every((v) => v === 0)).toBe(true);
    expect(grad.slice(layout.gateUpBias + 2 * I, layout.gateUpBias + 4 * I).every((v) => v === 0)).toBe(true);
    expect(grad.slice(layout.downBias + H, layout.downBias + 2 * H).every((v) => v === 0)).toBe(true);
  });

  it('computes the loss and the gradient of every weight and bias as the f64 reference, and holds pruned weights at 0', async () => {
    const ctx = await gpu();
    const [T, H, E, K, I] = [29, 16, 5, 2, 12];
    const layout = expertParameterLayout({ E, H, I, biases: true });
    const p = layerProblem(4, { T, H, E, K }, layout.count, layout.matrices);
    const ref = referenceLayerObjective(p.student, p.teacher, p.x, { tokens: p.tokens }, { E, H, I, biases: true, activation: CLAMPED });
    expect(ref.mse[2]).toBe(0);
    const got = await runLayerDistiller(ctx, { tokens: T, hidden: H, experts: E, topK: K, expertFfn: I, biases: true, activation: CLAMPED }, p);
    expectClose([got.evaluation.loss], [ref.loss], { rtol: 1e-5, label: 'layer loss' });
    expectClose(got.evaluation.mse, ref.mse, { atol: 1e-7, rtol: 1e-5, label: 'per-expert MSE' });
    expectClose(got.grads, ref.grad, { atol: 1e-6, rtol: 1e-4, label: 'expert weight and bias gradient' });
    // Biases have gradients (never pruned); expert 2 (no rows) has none, biases included.
    expect(got.grads.slice(layout.gateUpBias, layout.count).some((v) => v !== 0)).toBe(true);
    expect(got.grads.slice(layout.downBias + 2 * H, layout.downBias + 3 * H).every((v) => v === 0)).toBe(true);
    expect(got.prunedNonzero).toEqual([0, 0, 0, 0, 0, 0]);
    expect(got.logs.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(got.losses[1]).toBeLessThan(0.95 * got.losses[0]);
  });
});
