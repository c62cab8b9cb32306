/**
 * The exported checkpoint is the trained function: model.safetensors + config.json written by exportHfCheckpoint open
 * through the project's Hugging Face loader (Mixtral names, per-expert layout, f16; Qwen2-MoE names with zero q/k/v
 * biases and no shared expert when the gates are unnormalized), and the loaded model's reference forward equals the
 * reference forward of the flat parameters (rounded to f16) the trainer holds. importHfTensors reads an export
 * back; a warm start that splits experts (renormalized gates, routerScale 1, downScale = parts) is the same function.
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
import { exportHfCheckpoint, hfTensors, importHfTensors } from '../../src/engine/train/export.ts';
import { warmStartParameters } from '../../src/engine/train/init.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
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

async function exportedCheckpoint(layout: ReturnType<typeof paramLayout>, params: Float32Array) {
  const exported = exportHfCheckpoint(layout, params, 0.02);
  const config_ = new TextEncoder().encode(JSON.stringify(exported.config));
  const checkpoint = await openCheckpoint(memoryFolder({ 'config.json': config_, 'model.safetensors': exported.safetensors }));
  return { exported, checkpoint };
}

describe('export to Hugging Face Mixtral / Qwen2-MoE layout', () => {
  const cases = [
    { routing: 'renormalized', architecture: 'mixtral', down: 'model.layers.1.block_sparse_moe.experts.3.w2.weight', biases: 0 },
    { routing: 'unnormalized', architecture: 'qwen2_moe', down: 'model.layers.1.mlp.experts.3.down_proj.weight', biases: 3 * 2 * 16 },
  ] as const;
  it.each(cases)('$routing gates: loads as $architecture and computes the same function as the flat parameters', async (c) => {
    const layout = paramLayout({ ...config, routing: c.routing });
    const rng = createRng(3);
    const params = Float32Array.from({ length: layout.count }, () => 0.2 * rng.normal());
    const { exported, checkpoint } = await exportedCheckpoint(layout, params);
    expect(exported.report.dtype).toBe('f16');
    expect(checkpoint.spec.architecture).toBe(c.architecture);
    expect(checkpoint.spec.routing).toEqual({ kind: 'softmax-topk', renormalize: c.routing === 'renormalized' });
    expect(checkpoint.spec.sharedExpert).toBeNull();
    expect(checkpoint.spec.dtype).toBe('f16');
    expect(checkpoint.names.layers[0].experts?.layout).toBe('per-expert');
    expect(checkpoint.tensors.has(c.down)).toBe(true);
    expect(checkpoint.spec.maxPositions).toBe(config.contextLength);
    // The trainer's own count agrees with `moe-lab info`'s (the zero q/k/v biases of Qwen2-MoE aside).
    const counts = countParameters(checkpoint.spec);
    expect({ ...parameterCounts(config), total: parameterCounts(config).total + c.biases, active: parameterCounts(config).active + c.biases }).toEqual(counts);
    expect([...checkpoint.tensors.values()].reduce((n, t) => n + t.info.shape.reduce((a, b) => a * b, 1), 0)).toBe(layout.count + c.biases);

    const ids = Array.from({ length: config.contextLength }, () => rng.int(config.vocabSize));
    const loaded = referenceForward(await loadReferenceWeights(checkpoint), ids);
    const flat = referenceForward(referenceWeightsOf(layout, roundToDtype(params, 'f16')), ids);
    expectClose(loaded.logits, flat.logits, { atol: 1e-9, rtol: 1e-9, label: 'logits' });

    // importHfTensors reads the export back to the flat parameters (as f16 rounded them).
    const source = new MemoryByteSource('model.safetensors', exported.safetensors);
    const header = await readSafetensorsHeader(source);
    const tensors = new Map<string, Float32Array>();
    for (const [name, info] of header.tensors) tensors.set(name, bytesToFloat32(info, await readTensorBytes(source, info)));
    expect(importHfTensors(layout, (name) => tensors.get(name)!)).toEqual(roundToDtype(params, 'f16'));
    expect(hfTensors(layout, params).length).toBe(header.tensors.size);
  });

  it('a warm start that splits each expert in two computes the same function (renormalized gates, downScale 2)', () => {
    const from = paramLayout(config);
    const rng = createRng(5);
    const params = Float32Array.from({ length: from.count }, () => 0.3 * rng.normal());
    const split = { ...config, numExperts: 8, topK: 4, expertFfnSize: 6 };
    const warm = { model: 'memory', from: config, splitExperts: 2, routerScale: 1, downScale: 2 };
    const layout = paramLayout(split);
    const values = warmStartParameters(layout, warm, params);
    const ids = Array.from({ length: config.contextLength }, () => rng.int(config.vocabSize));
    const before = referenceForward(referenceWeightsOf(from, params), ids);
    const after = referenceForward(referenceWeightsOf(layout, values), ids);
    expectClose(after.logits, before.logits, { atol: 1e-9, rtol: 1e-9, label: 'logits after the split' });
    expect(() => warmStartParameters(paramLayout({ ...split, topK: 2 }), warm, params)).toThrow(/topK must be 4 \(got 2\)/);
  });

  it("a warm start's router noise changes only the router rows, each part's its own way, and its seed fixes it", () => {
    const from = paramLayout(config);
    const rng = createRng(6);
    const params = Float32Array.from({ length: from.count }, () => 0.3 * rng.normal());
    const layout = paramLayout({ ...config, numExperts: 8, topK: 4, expertFfnSize: 6 });
    const plain = { model: 'memory', from: config, splitExperts: 2, routerScale: 3, downScale: 2 };
    const noisy = (seed: number) => warmStartParameters(layout, { ...plain, routerNoise: { std: 0.5, seed } }, params);
    const base = warmStartParameters(layout, plain, params);
    const a = noisy(1);
    expect(noisy(1)).toEqual(a);
    expect(noisy(2)).not.toEqual(a);
    const H = config.hiddenSize;
    for (const [l, t] of layout.layers.entries()) {
      const inRouter = (i: number) => i >= t.router.offset && i < t.router.offset + t.router.size;
      // Parts 0 and 1 of expert 0 start from one parent row and now differ.
      expect(Array.from(a.subarray(t.router.offset, t.router.offset + H))).not.toEqual(Array.from(a.subarray(t.router.offset + H, t.router.offset + 2 * H)));
      expect(
        a.findIndex((v, i) => inRouter(i) && v === base[i]),
        `layer ${l}`,
      ).toBe(-1);
    }
    const routers = layout.layers.map((t) => t.router);
    expect(a.findIndex((v, i) => v !== base[i] && !routers.some((r) => i >= r.offset && i < r.offset + r.size))).toBe(-1);
  });

  it("a warm start without a split scales each layer's router rows by its own factor and leaves the rest as it was", () => {
    const from = paramLayout(config);
    const rng = createRng(7);
    const params = Float32Array.from({ length: from.count }, () => 0.3 * rng.normal());
    const scales = Array.from({ length: config.numLayers }, (_, l) => 1 + l / 2);
    const warm = { model: 'memory', from: config, splitExperts: 1, routerScale: scales, downScale: 1 };
    const values = warmStartParameters(from, warm, params);
    for (const [l, r] of from.layers.map((t) => t.router).entries()) {
      const scaled = Array.from(params.subarray(r.offset, r.offset + r.size), (v) => Math.fround(scales[l] * v));
      expect(Array.from(values.subarray(r.offset, r.offset + r.size)), `layer ${l}`).toEqual(scaled);
    }
    const inRouter = (i: number) => from.layers.some((t) => i >= t.router.offset && i < t.router.offset + t.router.size);
    expect(values.findIndex((v, i) => v !== params[i] && !inRouter(i))).toBe(-1);
    expect(() => warmStartParameters(from, { ...warm, routerScale: scales.slice(1) }, params)).toThrow(
      new RegExp(`routerScale has ${config.numLayers - 1} factors, the model has ${config.numLayers} layers`),
    );
    expect(() => warmStartParameters(from, { ...warm, routerScale: scales.map((s, l) => (l ? s : 0)) }, params)).toThrow(/must be positive/);
  });

  it('falls back to bf16 when a value is beyond the f16 range', () => {
    const layout = paramLayout(config);
    const params = new Float32Array(layout.count).fill(0.01);
    params[5] = 70000;
    const exported = exportHfCheckpoint(layout, params, 0.02);
    expect(exported.report.dtype).toBe('bf16');
    expect(exported.config.torch_dtype).toBe('bfloat16');
  });
});
