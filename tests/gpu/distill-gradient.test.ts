/**
 * Distillation gradients: the GPU forward + backward with the distillation hooks (teacher experts on the student's
 * rows, per-expert MSE, its gradient into expert outputs and through the teacher into expert inputs, a dropped
 * expert) against central finite differences of the f64 CPU objective (src/engine/distill/reference.ts) at entries
 * of every parameter tensor of a tiny Mixtral; then the masked gradient the optimizer sees.
 */
import { describe, expect, it } from 'vitest';
import { referenceDistillLoss } from '../../src/engine/distill/reference.ts';
import { createRng } from '../../src/engine/random.ts';
import { paramLayout, type TrainModelConfig } from '../../src/engine/train/config.ts';
import type { DistillProblem } from '../../src/engine/distill/problem.ts';
import { GpuDistiller } from '../../src/gpu/distill/distiller.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const config: TrainModelConfig = {
  vocabSize: 48,
  hiddenSize: 16,
  numLayers: 2,
  numHeads: 2,
  numExperts: 4,
  topK: 2,
  expertFfnSize: 12,
  contextLength: 12,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  bosTokenId: 0,
  eosTokenId: 0,
};
const LAMBDA = 0.8;
const OPTIMIZER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxNorm: Infinity };

describe('distillation gradients of the whole model', () => {
  it('match finite differences of the CPU objective, and the optimizer sees them masked', async () => {
    const ctx = await gpu();
    const layout = paramLayout(config);
    const rng = createRng(23);
    // Larger than a trained model's weights, so every path carries a gradient well above the finite-difference noise.
    const teacher = Float32Array.from({ length: layout.count }, () => 0.3 * rng.normal());
    for (const t of layout.tensors) if (!t.decay) for (let i = 0; i < t.size; i++) teacher[t.offset + i] = 1 + 0.2 * rng.normal();
    // The student: the teacher with about half of every expert matrix pruned and the rest moved a little (as
    // SparseGPT's updates do), so expert outputs differ everywhere.
    const student = new Float32Array(teacher);
    const kept = new Uint32Array(Math.ceil(layout.count / 32)).fill(0xffffffff);
    const experts = layout.layers.flatMap((l) => [l.w13, l.w2]);
    for (const t of experts) {
      for (let i = t.offset; i < t.offset + t.size; i++) {
        if (rng.next() < 0.5) {
          student[i] = 0;
          kept[i >>> 5] &= ~(1 << (i & 31));
        } else student[i] += 0.05 * rng.normal();
      }
    }
    // Layer 1 drops expert 2: its router logit is masked out, its weights get no gradient.
    const expertEnabled = [null, Uint8Array.from([1, 1, 0, 1])];
    const problem: DistillProblem = { layout, student, teacher, kept, update: kept, expertEnabled, trainable: 'all' };
    const windows = 2;
    const T = windows * config.contextLength;
    const ids = Uint32Array.from({ length: T }, () => rng.int(config.vocabSize));
    const targets = Uint32Array.from({ length: T }, () => rng.int(config.vocabSize));
    const { raw, masked, gpuLoss } = await withinErrorScopes(ctx, async () => {
      const d = await GpuDistiller.create(ctx, problem, windows, OPTIMIZER);
      const losses = await d.evaluateBatch(ids, targets);
      await d.computeGradients(ids, targets, LAMBDA, false);
      const rawGrads = await d.getGradients();
      await d.computeGradients(ids, targets, LAMBDA, true);
      const result = { raw: rawGrads, masked: await d.getGradients(), gpuLoss: losses };
      d.destroy();
      return result;
    });
    const reference = referenceDistillLoss(layout, student, teacher, ids, targets, LAMBDA, expertEnabled);
    expect(Math.abs(gpuLoss.crossEntropy - reference.crossEntropy)).toBeLessThan(1e-4 * reference.crossEntropy);
    expect(Math.abs(gpuLoss.expertLoss - reference.expertLoss)).toBeLessThan(1e-4 * reference.expertLoss);
    expect(reference.mse[1][2]).toBe(0); // the dropped expert saw no token

    const failures: string[] = [];
    let checked = 0;
    const values = new Float32Array(student);
    const check = (name: string, i: number) => {
      const original = values[i];
      const eps = 1e-3 * Math.max(1, Math.abs(original));
      values[i] = original + eps;
      const plusAt = values[i];
      const plus = referenceDistillLoss(layout, values, teacher, ids, targets, LAMBDA, expertEnabled).loss;
      values[i] = original - eps;
      const minusAt = values[i];
      const minus = referenceDistillLoss(layout, values, teacher, ids, targets, LAMBDA, expertEnabled).loss;
      values[i] = original;
      const numeric = (plus - minus) / (plusAt - minusAt);
      checked++;
      if (!(Math.abs(raw[i] - numeric) <= 2e-4 + 2e-2 * Math.abs(numeric))) {
        failures.push(`${name}[${i}]: gpu ${raw[i].toExponential(4)} vs finite difference ${numeric.toExponential(4)}`);
      }
    };
    for (const t of layout.tensors) for (let n = 0; n < 4; n++) check(t.name, t.offset + rng.int(t.size));
    // Expert weights of layer 0 (upstream of layer 1's MSE through its input): kept and pruned entries alike.
    for (let n = 0; n < 8; n++) check('layers.0.w13', layout.layers[0].w13.offset + rng.int(layout.layers[0].w13.size));
    const droppedRow = layout.layers[1].router.offset + 2 * config.hiddenSize;
    check('layers.1.router (dropped expert)', droppedRow + 3);
    console.log(`checked ${checked} gradient entries; CE ${reference.crossEntropy.toFixed(5)}, L_expert ${reference.expertLoss.toFixed(5)}`);
    expect(failures, failures.join('\n')).toEqual([]);
    expect(raw[droppedRow + 3]).toBe(0);

    // The optimizer's view: pruned entries exactly 0, the rest unchanged.
    let pruned = 0;
    for (let i = 0; i < layout.count; i++) {
      const isKept = (kept[i >>> 5] >>> (i & 31)) & 1;
      if (!isKept) pruned++;
      if (masked[i] !== (isKept ? raw[i] : 0)) throw new Error(`masked gradient ${i}: ${masked[i]} (raw ${raw[i]}, kept ${isKept})`);
    }
    expect(pruned).toBeGreaterThan(1000);
  });
});
