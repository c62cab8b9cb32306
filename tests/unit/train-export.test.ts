/**
 * The exported checkpoint is the trained function: model.safetensors + config.json written by exportMixtral open
 * through the project's Hugging Face loader (Mixtral names, per-expert layout, f16), and the loaded model's
 * reference forward equals the reference forward of the flat parameters (rounded to f16) the trainer holds.
 */
import { describe, expect, it } from 'vitest';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { openCheckpoint, type ModelFolder } from '../../src/engine/model/checkpoint.ts';
import { countParameters } from '../../src/engine/model/spec.ts';
import { createRng } from '../../src/engine/random.ts';
import { roundToDtype } from '../../src/engine/io/dtype-encoding.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { parameterCounts, paramLayout, type TrainModelConfig } from '../../src/engine/train/config.ts';
import { exportMixtral } from '../../src/engine/train/export.ts';
import { referenceWeightsOf } from '../../src/engine/reference/train/model.ts';
import { expectClose } from '../helpers/tolerance.ts';

const config: TrainModelConfig = {
  vocabSize: 40,
  hiddenSize: 16,
  numLayers: 2,
  numHeads: 2,
  numExperts: 4,
  topK: 2,
  expertFfnSize: 12,
  contextLength: 16,
  ropeTheta: 10000,
  rmsNormEps: 1e-5,
  bosTokenId: 0,
  eosTokenId: 0,
};

function memoryFolder(files: Record<string, Uint8Array>): ModelFolder {
  return {
    name: 'exported',
    open: async (path) => (files[path] ? new MemoryByteSource(`exported/${path}`, files[path]) : null),
  };
}

describe('export to Hugging Face Mixtral layout', () => {
  it('loads through the checkpoint reader and computes the same function as the flat parameters', async () => {
    const layout = paramLayout(config);
    const rng = createRng(3);
    const params = Float32Array.from({ length: layout.count }, () => 0.2 * rng.normal());
    const exported = exportMixtral(layout, params, 0.02);
    expect(exported.report.dtype).toBe('f16');
    const config_ = new TextEncoder().encode(JSON.stringify(exported.config));
    const checkpoint = await openCheckpoint(memoryFolder({ 'config.json': config_, 'model.safetensors': exported.safetensors }));
    expect(checkpoint.spec.architecture).toBe('mixtral');
    expect(checkpoint.spec.dtype).toBe('f16');
    expect(checkpoint.names.layers[0].experts?.layout).toBe('per-expert');
    expect(checkpoint.tensors.has('model.layers.1.block_sparse_moe.experts.3.w2.weight')).toBe(true);
    expect(checkpoint.spec.maxPositions).toBe(config.contextLength);
    // The trainer's own count agrees with `moe-lab info`'s.
    expect(parameterCounts(config)).toEqual(countParameters(checkpoint.spec));
    expect([...checkpoint.tensors.values()].reduce((n, t) => n + t.info.shape.reduce((a, b) => a * b, 1), 0)).toBe(layout.count);

    const ids = Array.from({ length: config.contextLength }, () => rng.int(config.vocabSize));
    const loaded = referenceForward(await loadReferenceWeights(checkpoint), ids);
    const flat = referenceForward(referenceWeightsOf(layout, roundToDtype(params, 'f16')), ids);
    expectClose(loaded.logits, flat.logits, { atol: 1e-9, rtol: 1e-9, label: 'logits' });
  });

  it('falls back to bf16 when a value is beyond the f16 range', () => {
    const layout = paramLayout(config);
    const params = new Float32Array(layout.count).fill(0.01);
    params[5] = 70000;
    const exported = exportMixtral(layout, params, 0.02);
    expect(exported.report.dtype).toBe('bf16');
    expect(exported.config.torch_dtype).toBe('bfloat16');
  });
});
