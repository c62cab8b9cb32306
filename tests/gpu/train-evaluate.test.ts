/**
 * The trained function is the shipped function: the training forward (f32 kernels of src/gpu/train) and the
 * inference forward (src/gpu/model, reading the exported f16 checkpoint) give the same perplexity on the same
 * windows, `moe-lab ppl`'s windows included (a shorter last window); and both agree with the CPU reference.
 */
import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { createRng } from '../../src/engine/random.ts';
import { roundToDtype } from '../../src/engine/io/dtype-encoding.ts';
import { meanNextTokenNll, referenceForward } from '../../src/engine/reference/forward.ts';
import { paramLayout, type TrainModelConfig } from '../../src/engine/train/config.ts';
import { exportHfCheckpoint } from '../../src/engine/train/export.ts';
import { referenceWeightsOf } from '../../src/engine/reference/train/model.ts';
import { evaluatePerplexity } from '../../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { evaluateStream } from '../../src/gpu/train/evaluate.ts';
import { GpuTrainer } from '../../src/gpu/train/trainer.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const config: TrainModelConfig = {
  vocabSize: 64,
  hiddenSize: 24,
  numLayers: 2,
  numHeads: 3,
  numExperts: 8,
  topK: 2,
  expertFfnSize: 20,
  contextLength: 16,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  bosTokenId: 0,
  eosTokenId: 0,
};

describe('training forward vs inference forward', () => {
  it('the same mean NLL on the same windows of a stream, through the exported f16 checkpoint', async () => {
    const ctx = await gpu();
    const layout = paramLayout(config);
    const rng = createRng(5);
    const params = roundToDtype(
      Float32Array.from({ length: layout.count }, () => 0.3 * rng.normal()),
      'f16',
    );
    for (const t of layout.tensors) if (!t.decay) params.fill(1, t.offset, t.offset + t.size);
    const stream = Array.from({ length: 5 * config.contextLength + 7 }, () => rng.int(config.vocabSize)); // 6 windows, the last short
    const exported = exportHfCheckpoint(layout, params, 0.02);
    const files: Record<string, Uint8Array> = {
      'config.json': new TextEncoder().encode(JSON.stringify(exported.config)),
      'model.safetensors': exported.safetensors,
    };
    const checkpoint = await openCheckpoint({ name: 'exported', open: async (p) => (files[p] ? new MemoryByteSource(p, files[p]) : null) });
    const { trained, inference } = await withinErrorScopes(ctx, async () => {
      const trainer = new GpuTrainer(ctx, layout, 4, 0, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxNorm: 1 });
      await trainer.setParameters(params);
      const trained = await evaluateStream(trainer, stream);
      trainer.destroy();
      const model = await GpuModel.upload(ctx, checkpoint);
      const inference = await evaluatePerplexity(model, stream, { ctx: config.contextLength });
      model.destroy();
      return { trained, inference };
    });
    expect(trained.tokens).toBe(inference.tokens);
    expect(trained.windows).toBe(6);
    expect(Math.abs(trained.nll - inference.nll)).toBeLessThan(1e-5 * inference.nll);
    // And the CPU reference on the same windows.
    const weights = referenceWeightsOf(layout, params);
    let total = 0;
    for (let start = 0; start < stream.length; start += config.contextLength) {
      const window = stream.slice(start, start + config.contextLength);
      total += meanNextTokenNll(referenceForward(weights, window).logits, window, config.vocabSize) * (window.length - 1);
    }
    expect(Math.abs(trained.nll - total / trained.tokens)).toBeLessThan(1e-5 * trained.nll);
  });
});
