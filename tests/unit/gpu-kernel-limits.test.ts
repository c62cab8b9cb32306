/**
 * The GPU kernels' limits on a model: moe/route's MAX_TOP_K, MAX_GROUPS and NO_EXPERT on the host are the shader's,
 * and a checkpoint beyond them, or with heads wider than nn/attention's MAX_HEAD_DIM, is refused before upload
 * (unsupportedOnGpu) with its config setting named, instead of failing in a kernel's recording (an internal error)
 * once calibration or perplexity has started.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { MAX_GROUPS, MAX_TOP_K, NO_EXPERT } from '../../src/gpu/kernels/moe/route.ts';
import { MAX_HEAD_DIM } from '../../src/gpu/kernels/nn/attention.ts';
import { unsupportedOnGpu } from '../../src/gpu/model/gpu-model.ts';

const shader = readFileSync(new URL('../../shaders/moe/route.wgsl', import.meta.url), 'utf8');

/** A one-layer Qwen2-MoE config with `experts` experts, `topK` of them per token. */
function config(experts: number, topK: number, headDim = 8): Record<string, unknown> {
  return {
    architectures: ['Qwen2MoeForCausalLM'],
    model_type: 'qwen2_moe',
    hidden_size: 16,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 2,
    head_dim: headDim,
    moe_intermediate_size: 8,
    shared_expert_intermediate_size: 0,
    num_experts: experts,
    num_experts_per_tok: topK,
    norm_topk_prob: false,
    vocab_size: 32,
    max_position_embeddings: 64,
  };
}

describe('GPU kernel limits on a model', () => {
  it("match the shader's constants", () => {
    expect(shader).toContain(`const MAX_TOP_K: u32 = ${MAX_TOP_K}u;`);
    expect(shader).toContain(`const MAX_GROUPS: u32 = ${MAX_GROUPS}u;`);
    expect(shader).toContain(`const NO_EXPERT: u32 = 0x${NO_EXPERT.toString(16)}u;`);
  });

  it(`accept ${MAX_TOP_K} experts per token and refuse ${MAX_TOP_K + 1}, naming num_experts_per_tok`, async () => {
    const at = await openCheckpoint(syntheticModelFolder(config(2 * MAX_TOP_K, MAX_TOP_K), 'F32'));
    expect(unsupportedOnGpu(at.spec)).toBeNull();
    const above = await openCheckpoint(syntheticModelFolder(config(2 * MAX_TOP_K, MAX_TOP_K + 1), 'F32'));
    expect(unsupportedOnGpu(above.spec)).toBe(`num_experts_per_tok ${MAX_TOP_K + 1} is above the ${MAX_TOP_K} experts per token the GPU routing supports`);
  });

  it(`accept a head dimension of ${MAX_HEAD_DIM} and refuse ${MAX_HEAD_DIM + 2}`, async () => {
    const at = await openCheckpoint(syntheticModelFolder(config(4, 2, MAX_HEAD_DIM), 'F32'));
    expect(unsupportedOnGpu(at.spec)).toBeNull();
    const above = await openCheckpoint(syntheticModelFolder(config(4, 2, MAX_HEAD_DIM + 2), 'F32'));
    expect(unsupportedOnGpu(above.spec)).toBe(`a head dimension of ${MAX_HEAD_DIM + 2} is above the ${MAX_HEAD_DIM} the GPU attention supports`);
  });
});
