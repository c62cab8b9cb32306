/**
 * Whole-model gradient check: the GPU forward + backward (src/gpu/train) against central finite differences of
 * the f64 CPU objective (src/engine/reference/train/model.ts, built on the reference forward) at a few entries of
 * every parameter tensor of a tiny Mixtral, cross-entropy plus load-balancing loss; and the same with unnormalized
 * top-K gates (the Qwen2-MoE export: the reference forward routes by that config's norm_topk_prob = false).
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { paramLayout, type TrainModelConfig } from '../../src/engine/train/config.ts';
import { referenceLoss } from '../../src/engine/reference/train/model.ts';
import { GpuTrainer } from '../../src/gpu/train/trainer.ts';
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
const AUX = 0.5; // large, so the load-balancing gradient is well above the finite-difference noise
const OPTIMIZER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxNorm: Infinity };

describe('training gradients of the whole model', () => {
  it.each(['renormalized', 'unnormalized'] as const)(
    'match finite differences of the CPU objective for entries of every tensor (%s gates)',
    async (routing) => {
      const ctx = await gpu();
      const layout = paramLayout({ ...config, routing });
      const rng = createRng(11);
      // Larger than the training init so every path (attention, gates, norms) carries a visible gradient.
      const values = Float32Array.from({ length: layout.count }, () => 0.3 * rng.normal());
      for (const t of layout.tensors) if (!t.decay) for (let i = 0; i < t.size; i++) values[t.offset + i] = 1 + 0.2 * rng.normal();
      const windows = 2;
      const T = windows * config.contextLength;
      const ids = Uint32Array.from({ length: T }, () => rng.int(config.vocabSize));
      const targets = Uint32Array.from({ length: T }, () => rng.int(config.vocabSize));
      const { grads, gpuLoss } = await withinErrorScopes(ctx, async () => {
        const trainer = new GpuTrainer(ctx, layout, windows, AUX, OPTIMIZER);
        await trainer.setParameters(values);
        await trainer.computeGradients(ids, targets);
        const result = { grads: await trainer.getGradients(), gpuLoss: (await ctx.readF32(trainer.buffers.sums, 0, 4))[0] };
        trainer.destroy();
        return result;
      });
      const reference = referenceLoss(layout, values, ids, targets, AUX);
      expect(Math.abs(gpuLoss - reference.crossEntropy)).toBeLessThan(1e-4 * reference.crossEntropy);

      const failures: string[] = [];
      let checked = 0;
      for (const t of layout.tensors) {
        for (let n = 0; n < 4; n++) {
          const i = t.offset + rng.int(t.size);
          const original = values[i];
          const eps = 1e-3 * Math.max(1, Math.abs(original));
          values[i] = original + eps;
          const plusAt = values[i];
          const plus = referenceLoss(layout, values, ids, targets, AUX).loss;
          values[i] = original - eps;
          const minusAt = values[i];
          const minus = referenceLoss(layout, values, ids, targets, AUX).loss;
          values[i] = original;
          const numeric = (plus - minus) / (plusAt - minusAt);
          const got = grads[i];
          checked++;
          if (!(Math.abs(got - numeric) <= 2e-4 + 2e-2 * Math.abs(numeric))) {
            failures.push(`${t.name}[${i - t.offset}]: gpu ${got.toExponential(4)} vs finite difference ${numeric.toExponential(4)}`);
          }
        }
      }
      console.log(
        `checked ${checked} gradient entries; loss ${reference.loss.toFixed(5)} (aux per layer ${reference.aux.map((a) => a.toFixed(4)).join(', ')})`,
      );
      expect(failures, failures.join('\n')).toEqual([]);
    },
  );
});
