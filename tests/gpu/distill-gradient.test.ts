/**
 * One MoE layer's distillation step on the GPU (src/gpu/distill/distiller.ts) against the f64 CPU reference of its
 * objective and gradient (src/engine/reference/distill-layer.ts), on a routing laid out as the inference forward's tap
 * leaves it (empty slots, an expert without rows): the layer loss and per-expert MSE, the gradient of every expert
 * weight, and a few masked AdamW steps — pruned weights exactly +0 with zero moments after every step, the loss
 * going down.
 */
import { describe, expect, it } from 'vitest';
import { referenceLayerObjective } from '../../src/engine/reference/distill-layer.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { layerProblem, runLayerDistiller } from './distill-helpers.ts';
import { gpu } from './gpu-context.ts';

const [T, H, E, K, I] = [29, 16, 5, 2, 12];
const P = 3 * E * I * H;

describe('a MoE layer distillation step', () => {
  it('computes the layer loss and the gradient of every expert weight as the f64 reference, and holds pruned weights at 0', async () => {
    const ctx = await gpu();
    const p = layerProblem(3, { T, H, E, K }, P);
    const ref = referenceLayerObjective(p.student, p.teacher, p.x, { tokens: p.tokens }, { E, H, I });
    expect(ref.mse[2]).toBe(0);
    const got = await runLayerDistiller(ctx, { tokens: T, hidden: H, experts: E, topK: K, expertFfn: I }, p);
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
