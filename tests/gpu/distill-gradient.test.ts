/**
 * One MoE layer's distillation step on the GPU (src/gpu/distill/distiller.ts) against the f64 CPU reference of its
 * objective and gradient (src/engine/reference/distill-layer.ts), on a routing laid out as the inference forward's tap
 * leaves it (empty slots, an expert without rows): the layer loss and per-expert MSE, the gradient of every expert
 * weight, and a few masked AdamW steps — pruned weights exactly +0 with zero moments after every step, the loss
 * going down.
 */
import { describe, expect, it } from 'vitest';
import { referenceLayerObjective } from '../../src/engine/reference/distill-layer.ts';
import { createRng } from '../../src/engine/random.ts';
import { LayerDistiller } from '../../src/gpu/distill/distiller.ts';
import type { MoeLayerTap } from '../../src/gpu/model/taps.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const [T, H, E, K, I] = [29, 16, 5, 2, 12];
const P = 3 * E * I * H;
const OPTIMIZER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxNorm: 1 };

function problem(seed: number) {
  const rng = createRng(seed);
  const x = Float32Array.from({ length: T * H }, () => rng.normal());
  const teacher = Float32Array.from({ length: P }, () => rng.normal() / Math.sqrt(H));
  // Every other expert weight pruned (kept bits), the student = teacher with the pruned ones at 0 and a perturbation.
  const kept = Uint32Array.from({ length: Math.ceil(P / 32) }, () => rng.nextU32());
  const isKept = (i: number) => ((kept[i >>> 5] >>> (i & 31)) & 1) === 1;
  const student = Float32Array.from(teacher, (v, i) => (isKept(i) ? v + 0.05 * rng.normal() : 0));
  // Routing: expert 2 gets no token; some slots empty; rows grouped by expert in increasing t K + slot.
  const tokens: number[][] = Array.from({ length: E }, () => []);
  const assignments: [number, number][] = [];
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    for (let k = 0; k < K; k++) {
      if (t % 7 === 3 && k === 1) continue;
      let e = rng.int(E);
      while (e === 2 || chosen.has(e)) e = (e + 1) % E;
      chosen.add(e);
      assignments.push([e, t * K + k]);
    }
  }
  assignments.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const offsets = new Uint32Array(E + 1);
  for (const [e, a] of assignments) {
    offsets[e + 1]++;
    tokens[e].push(Math.floor(a / K));
  }
  for (let e = 0; e < E; e++) offsets[e + 1] += offsets[e];
  const sortedRows = new Uint32Array(T * K).fill(0xffffffff);
  assignments.forEach(([, a], r) => (sortedRows[r] = a));
  return { x, teacher, student, kept, isKept, tokens, offsets, sortedRows };
}

describe('a MoE layer distillation step', () => {
  it('computes the layer loss and the gradient of every expert weight as the f64 reference, and holds pruned weights at 0', async () => {
    const ctx = await gpu();
    const p = problem(3);
    const ref = referenceLayerObjective(p.student, p.teacher, p.x, { tokens: p.tokens }, { E, H, I });
    expect(ref.mse[2]).toBe(0);
    const got = await withinErrorScopes(ctx, async () => {
      const input = await ctx.upload('x', p.x);
      const sortedRows = await ctx.upload('sorted rows', p.sortedRows);
      const expertOffsets = await ctx.upload('offsets', p.offsets);
      const d = LayerDistiller.create(ctx, { tokens: T, hidden: H, experts: E, topK: K, expertFfn: I }, OPTIMIZER, p);
      const tapOn = (recorder: ReturnType<typeof ctx.record>) =>
        ({ layer: 0, recorder, tokens: T, hidden: H, experts: E, topK: K, expertFfn: I, input, sortedRows, expertOffsets }) as unknown as MoeLayerTap;
      let rec = ctx.record();
      d.recordGradients(tapOn(rec));
      d.recordEvaluate(tapOn(rec));
      await rec.submit();
      const grads = await d.getGradients();
      const evaluation = await d.readEvaluation();
      const losses = [evaluation.loss];
      const prunedNonzero: number[] = [];
      for (let step = 0; step < 6; step++) {
        rec = ctx.record();
        d.recordStep(tapOn(rec), 3e-3);
        await rec.submit();
        const [w, m] = [await d.getParameters(), await d.getMoments()];
        let bad = 0;
        for (let i = 0; i < P; i++) if (!p.isKept(i) && (!Object.is(w[i], 0) || m[i] !== 0 || m[P + i] !== 0)) bad++;
        prunedNonzero.push(bad);
      }
      rec = ctx.record();
      d.recordEvaluate(tapOn(rec));
      await rec.submit();
      losses.push((await d.readEvaluation()).loss);
      const logs = await d.readLogs(0);
      d.destroy();
      for (const b of [input, sortedRows, expertOffsets]) b.destroy();
      return { grads, evaluation, losses, prunedNonzero, logs };
    });
    expectClose([got.evaluation.loss], [ref.loss], { rtol: 1e-5, label: 'layer loss' });
    expectClose(got.evaluation.mse, ref.mse, { atol: 1e-7, rtol: 1e-5, label: 'per-expert MSE' });
    expectClose(got.grads, ref.grad, { atol: 1e-6, rtol: 1e-4, label: 'expert weight gradient' });
    // The gradient of a pruned weight is computed (the optimizer masks it) and of expert 2 (no rows) exactly 0.
    expect(got.grads.slice(2 * 2 * I * H, 3 * 2 * I * H).every((v) => v === 0)).toBe(true);
    expect(got.prunedNonzero).toEqual([0, 0, 0, 0, 0, 0]);
    expect(got.logs.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expectClose([got.logs[0].loss], [ref.loss], { rtol: 1e-5, label: 'first logged loss' });
    expect(got.losses[1]).toBeLessThan(0.95 * got.losses[0]);
  });
});
