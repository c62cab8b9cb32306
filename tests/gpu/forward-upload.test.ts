/**
 * GpuModel upload: canonical expert layout from per-expert checkpoints, packed f16/bf16 weights (a bf16 copy of a
 * fixture and an f16 model whose matrices end mid-word), progress, and a typed limits error naming the tensor.
 */
import { describe, expect, it } from 'vitest';
import { MemoryByteSource, type ByteSource } from '../../src/engine/io/byte-source.ts';
import { writeSafetensors, type Dtype } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint, readTensorF32, type ModelFolder } from '../../src/engine/model/checkpoint.ts';
import { readCanonicalExperts } from '../../src/engine/model/expert-layout.ts';
import { encodeWeights } from '../../src/engine/io/dtype-encoding.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { createRng } from '../../src/engine/random.ts';
import { GpuError } from '../../src/gpu/errors.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { fixtureDir, openFixture, readFixtureReference, type FixtureName } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { readFileSync } from 'node:fs';

/** A fixture with every tensor rounded to `dtype`, as an in-memory model folder. */
async function fixtureCopy(name: FixtureName, dtype: 'F16' | 'BF16'): Promise<ModelFolder> {
  const checkpoint = await openFixture(name);
  const tensors = [];
  for (const [tensor, { info }] of checkpoint.tensors) {
    const values = await readTensorF32(checkpoint, tensor);
    tensors.push({ name: tensor, dtype: dtype as Dtype, shape: info.shape, data: encodeWeights(values, dtype === 'F16' ? 'f16' : 'bf16') });
  }
  const files: Record<string, Uint8Array> = {
    'config.json': readFileSync(`${fixtureDir(name)}/config.json`),
    'model.safetensors': writeSafetensors(tensors),
  };
  return { name: `${name}-${dtype}`, open: async (path) => (files[path] ? new MemoryByteSource(`${name}-${dtype}/${path}`, files[path]) : null) };
}

/** GPU forward logits vs the CPU reference forward on the same (rounded) weights. */
async function compareWithReference(folder: ModelFolder, ids: number[], label: string): Promise<void> {
  const ctx = await gpu();
  const checkpoint = await openCheckpoint(folder);
  const got = await withinErrorScopes(ctx, async () => {
    const model = await GpuModel.upload(ctx, checkpoint);
    const forward = new GpuForward(model, 1, ids.length);
    try {
      return await forward.run({ ids, logits: true });
    } finally {
      forward.destroy();
      model.destroy();
    }
  });
  const ref = referenceForward(await loadReferenceWeights(checkpoint), ids);
  expectClose(got.logits!, ref.logits, { atol: 1e-3, rtol: 0, label });
}

describe('GpuModel upload', () => {
  it('stacks per-expert tensors into canonical gate_up / down and reports progress per tensor', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('mixtral');
    const events: { doneBytes: number; totalBytes: number; doneTensors: number; totalTensors: number }[] = [];
    const model = await GpuModel.upload(ctx, checkpoint, { onProgress: (p) => events.push(p) });
    try {
      const expected = await readCanonicalExperts(checkpoint, 1);
      const experts = model.layers[1].experts!;
      expect(new Uint8Array(await ctx.read(experts.gateUp.buffer))).toEqual(expected.gateUp);
      expect(new Uint8Array(await ctx.read(experts.down.buffer))).toEqual(expected.down);
      expect(experts.gateUp.dtype).toBe('f32');
      for (let i = 1; i < events.length; i++) expect(events[i].doneBytes).toBeGreaterThan(events[i - 1].doneBytes);
      const last = events.at(-1)!;
      expect(last.doneBytes).toBe(last.totalBytes);
      expect(last.doneTensors).toBe(last.totalTensors);
      expect(last.totalTensors).toBe(checkpoint.tensors.size);
    } finally {
      model.destroy();
    }
  });

  it('reads each layer in one range when it fits a span, else tensor by tensor; the same weights either way', async () => {
    const ctx = await gpu();
    const reads: number[] = [];
    const checkpoint = await openFixture('mixtral');
    // Every tensor's file wrapped once (tensors of a file keep sharing it), each read noted.
    const wrapped = new Map<ByteSource, ByteSource>();
    const counted = (file: ByteSource): ByteSource => {
      if (!wrapped.has(file)) wrapped.set(file, { name: file.name, size: () => file.size(), read: (o, n) => (reads.push(n), file.read(o, n)) });
      return wrapped.get(file)!;
    };
    const view = { ...checkpoint, tensors: new Map([...checkpoint.tensors].map(([k, t]) => [k, { info: t.info, source: counted(t.source) }])) };
    const layers = checkpoint.names.layers.length;
    const layerTensors = [...checkpoint.tensors.keys()].filter((name) => /\.layers\.\d+\./.test(name)).length;
    const upload = async (inMemoryLayerBytes?: number) => {
      reads.length = 0;
      const model = await GpuModel.upload(ctx, view, { inMemoryLayerBytes });
      try {
        return { reads: reads.length, gateUp: new Uint8Array(await ctx.read(model.layers[1].experts!.gateUp.buffer)) };
      } finally {
        model.destroy();
      }
    };
    const spans = await upload();
    const perTensor = await upload(0);
    const outside = checkpoint.tensors.size - layerTensors; // embedding, final norm, LM head: one read each
    expect(spans.reads).toBe(outside + layers);
    expect(perTensor.reads).toBeGreaterThanOrEqual(outside + layerTensors);
    expect(spans.gateUp).toEqual(perTensor.gateUp);
    expect(spans.gateUp).toEqual((await readCanonicalExperts(checkpoint, 1)).gateUp);
  });

  it('runs a bf16 copy of a fixture like the reference on the rounded weights', async () => {
    const ref = await readFixtureReference('qwen2_moe');
    await compareWithReference(await fixtureCopy('qwen2_moe', 'BF16'), ref.inputIds, 'qwen2_moe bf16 logits');
  });

  it('runs an f16 model whose expert matrices end mid-word (H and I odd)', async () => {
    const config = {
      architectures: ['MixtralForCausalLM'],
      model_type: 'mixtral',
      hidden_size: 37,
      head_dim: 8,
      num_hidden_layers: 2,
      num_attention_heads: 3,
      num_key_value_heads: 1,
      intermediate_size: 19,
      num_local_experts: 5,
      num_experts_per_tok: 2,
      vocab_size: 101,
      rms_norm_eps: 1e-5,
      max_position_embeddings: 256,
      tie_word_embeddings: false,
    };
    const rng = createRng(4);
    const ids = Array.from({ length: 45 }, () => rng.int(101));
    await compareWithReference(syntheticModelFolder(config, 'F16', 3), ids, 'synthetic f16 logits');
  });

  it('runs a dense (non-MoE) layer and a gated shared expert in bf16 (Qwen2-MoE mlp_only_layers)', async () => {
    const config = {
      architectures: ['Qwen2MoeForCausalLM'],
      model_type: 'qwen2_moe',
      hidden_size: 48,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 40,
      moe_intermediate_size: 24,
      shared_expert_intermediate_size: 36,
      num_experts: 6,
      num_experts_per_tok: 3,
      norm_topk_prob: true,
      decoder_sparse_step: 1,
      mlp_only_layers: [1],
      qkv_bias: true,
      vocab_size: 77,
      rms_norm_eps: 1e-6,
      max_position_embeddings: 256,
      tie_word_embeddings: false,
      use_sliding_window: false,
    };
    const folder = syntheticModelFolder(config, 'BF16', 5);
    expect((await openCheckpoint(folder)).spec.moeLayers).toEqual([true, false, true]);
    const rng = createRng(6);
    await compareWithReference(
      folder,
      Array.from({ length: 70 }, () => rng.int(77)),
      'synthetic qwen2_moe dense layer',
    );
  });

  it('refuses a tensor larger than one storage binding with GpuError(limits) naming it', async () => {
    const ctx = await gpu();
    const H = 64;
    const vocab = Math.ceil(ctx.caps.limits.maxStorageBufferBindingSize / (H * 4)) + 8;
    const config = {
      architectures: ['GraniteMoeForCausalLM'],
      model_type: 'granitemoe',
      hidden_size: H,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      intermediate_size: 32,
      num_local_experts: 4,
      num_experts_per_tok: 2,
      vocab_size: vocab,
      tie_word_embeddings: true,
      max_position_embeddings: 256,
    };
    const checkpoint = await openCheckpoint(syntheticModelFolder(config, 'F32'));
    const error = await GpuModel.upload(ctx, checkpoint).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuError);
    expect((error as GpuError).kind).toBe('limits');
    expect((error as GpuError).message).toMatch(/model\.embed_tokens\.weight.*maxStorageBufferBindingSize/);
  });
});
