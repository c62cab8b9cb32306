/**
 * Reproducibility of training: the same steps from the same seed give bit-identical parameters, and a run that is
 * stopped, saved (parameters + AdamW moments) and resumed in a fresh trainer ends bit-identical to one that was not.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { paramLayout, type TrainModelConfig } from '../../src/engine/train/config.ts';
import { DataOrder } from '../../src/engine/train/data.ts';
import { initialParameters } from '../../src/engine/train/init.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { GpuTrainer } from '../../src/gpu/train/trainer.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const config: TrainModelConfig = {
  vocabSize: 50,
  hiddenSize: 16,
  numLayers: 2,
  numHeads: 2,
  numExperts: 4,
  topK: 2,
  expertFfnSize: 24,
  contextLength: 12,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  bosTokenId: 0,
  eosTokenId: 0,
};
const OPTIMIZER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, maxNorm: 1 };
const layout = paramLayout(config);
const rng = createRng(4);
const order = new DataOrder(
  Uint32Array.from({ length: 400 }, () => rng.int(config.vocabSize)),
  { window: config.contextLength, batch: 2, seed: 3 },
);

/** Steps from..to-1 (0-based) on `trainer`. */
async function steps(trainer: GpuTrainer, from: number, to: number): Promise<void> {
  for (let s = from; s < to; s++) {
    const batch = order.batch(s);
    await trainer.trainStep(batch.ids, batch.targets, 3e-3);
  }
}

const fresh = async (ctx: GpuContext) => {
  const trainer = new GpuTrainer(ctx, layout, 2, 0.05, OPTIMIZER);
  await trainer.setParameters(initialParameters(layout, 1));
  return trainer;
};

describe('training reproducibility', () => {
  it('same seed and steps -> the same bits; stop, save, resume -> the same bits', async () => {
    const ctx = await gpu();
    const [a, b, resumed] = await withinErrorScopes(ctx, async () => {
      const runs: Float32Array[] = [];
      for (let r = 0; r < 2; r++) {
        const trainer = await fresh(ctx);
        await steps(trainer, 0, 4);
        runs.push(await trainer.getParameters());
        trainer.destroy();
      }
      const first = await fresh(ctx);
      await steps(first, 0, 2);
      const saved = { params: await first.getParameters(), moments: await first.getMoments(), step: first.step };
      first.destroy();
      const second = new GpuTrainer(ctx, layout, 2, 0.05, OPTIMIZER);
      await second.setParameters(saved.params);
      second.setMoments(saved.moments);
      second.step = saved.step;
      await steps(second, 2, 4);
      runs.push(await second.getParameters());
      second.destroy();
      return runs;
    });
    const same = (x: Float32Array, y: Float32Array) => x.every((v, i) => Object.is(v, y[i]));
    expect(same(a, initialParameters(layout, 1))).toBe(false);
    expect(same(a, b)).toBe(true);
    expect(same(a, resumed)).toBe(true);
  });
});
