/**
 * config.json -> MoeModelSpec: every field for the six fixtures (written by transformers 5.17), the older config
 * generation (top-level rope_theta, num_experts / num_local_experts, Qwen2 without qkv_bias), family defaults for
 * absent keys, and the errors for configs we cannot run.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelFileError, type ModelFileProblem } from '../../src/engine/errors.ts';
import { MAX_LAYERS, normalizeConfig, parseConfigJson } from '../../src/engine/model/config.ts';
import type { MoeModelSpec } from '../../src/engine/model/spec.ts';
import { fixtureDir, type FixtureName } from '../helpers/fixtures.ts';

type Json = Record<string, unknown>;

function fixtureConfig(name: FixtureName): Json {
  return JSON.parse(readFileSync(`${fixtureDir(name)}/config.json`, 'utf8')) as Json;
}

/** The fixture's config with keys replaced (undefined deletes a key). */
function edited(name: FixtureName, changes: Json): Json {
  const config = fixtureConfig(name);
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  return config;
}

function problemOf(config: Json, file = 'm/config.json'): { problem: ModelFileProblem; message: string } {
  try {
    normalizeConfig(file, config);
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
    expect(error.message.startsWith(`${file}: `)).toBe(true);
    return { problem: error.problem, message: error.message };
  }
  throw new Error('config accepted');
}

/** Fields shared by the six fixtures (2 layers, hidden 64, 4 heads of 16, 8 experts, top-2, vocab 512, f32). */
const COMMON = {
  vocabSize: 512,
  hiddenSize: 64,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  headDim: 16,
  numExperts: 8,
  topK: 2,
  moeLayers: [true, true],
  denseFfnSize: 0,
  sharedExpert: null,
  qkNorm: 'none',
  qkvBias: false,
  oBias: false,
  clipQkv: null,
  ropeTheta: 10000,
  rope: { rotaryDim: 16, pairs: 'half', yarn: null },
  mla: null,
  attentionScale: 0.25,
  embeddingMultiplier: 1,
  residualMultiplier: 1,
  logitsScaling: 1,
  tiedEmbeddings: false,
  lmHeadBias: false,
  maxPositions: 512,
  slidingWindow: null,
  attentionWindows: [null, null],
  attentionSinks: false,
  routerBias: false,
  expertBias: false,
  expertActivation: { kind: 'swiglu' },
  dtype: 'f32',
} satisfies Partial<MoeModelSpec>;

/** Each expected spec written out by hand from the fixture's config.json and its family's modeling file. */
const EXPECTED: Record<FixtureName, MoeModelSpec> = {
  mixtral: {
    ...COMMON,
    architecture: 'mixtral',
    expertFfnSize: 128,
    routing: { kind: 'softmax-topk', renormalize: true },
    norm: { kind: 'rms', eps: 1e-5, bias: false },
    bosTokenId: 1,
    eosTokenId: 2,
  },
  qwen2_moe: {
    ...COMMON,
    architecture: 'qwen2_moe',
    expertFfnSize: 32,
    denseFfnSize: 128,
    sharedExpert: { ffnSize: 64, gated: true },
    routing: { kind: 'softmax-topk', renormalize: false },
    norm: { kind: 'rms', eps: 1e-6, bias: false },
    qkvBias: true,
    bosTokenId: null,
    eosTokenId: null,
  },
  qwen3_moe: {
    ...COMMON,
    architecture: 'qwen3_moe',
    expertFfnSize: 32,
    denseFfnSize: 128,
    routing: { kind: 'softmax-topk', renormalize: true },
    norm: { kind: 'rms', eps: 1e-6, bias: false },
    qkNorm: 'per-head',
    bosTokenId: null,
    eosTokenId: null,
  },
  olmoe: {
    ...COMMON,
    architecture: 'olmoe',
    numKvHeads: 4,
    expertFfnSize: 32,
    routing: { kind: 'softmax-topk', renormalize: false },
    norm: { kind: 'rms', eps: 1e-5, bias: false },
    qkNorm: 'full-width',
    bosTokenId: null,
    eosTokenId: 1,
  },
  granitemoe: {
    ...COMMON,
    architecture: 'granitemoe',
    expertFfnSize: 32,
    routing: { kind: 'topk-softmax' },
    norm: { kind: 'rms', eps: 1e-6, bias: false },
    attentionScale: 0.0625,
    embeddingMultiplier: 12,
    residualMultiplier: 0.22,
    logitsScaling: 6,
    tiedEmbeddings: true,
    bosTokenId: 1,
    eosTokenId: 2,
  },
  phimoe: {
    ...COMMON,
    architecture: 'phimoe',
    expertFfnSize: 128,
    routing: { kind: 'sparsemixer', jitterEps: 0.01 },
    norm: { kind: 'layer', eps: 1e-5, bias: true },
    ropeTheta: 1e6,
    bosTokenId: 1,
    eosTokenId: 2,
  },
};

describe('config.json of the six fixtures', () => {
  for (const name of Object.keys(EXPECTED) as FixtureName[]) {
    it(`${name}: every spec field`, () => {
      const text = readFileSync(`${fixtureDir(name)}/config.json`, 'utf8');
      expect(parseConfigJson(`${name}/config.json`, text)).toEqual(EXPECTED[name]);
    });
  }
});

describe('older config generation and family defaults', () => {
  it('reads top-level rope_theta (transformers 4) and prefers rope_parameters when both exist', () => {
    expect(normalizeConfig('c', edited('mixtral', { rope_parameters: undefined, rope_theta: 500000 })).ropeTheta).toBe(500000);
    expect(normalizeConfig('c', edited('mixtral', { rope_theta: 3 })).ropeTheta).toBe(10000);
  });

  it("falls back to each family's default rope_theta and rms_norm_eps when absent", () => {
    const bare = (name: FixtureName) => normalizeConfig('c', edited(name, { rope_parameters: undefined, rms_norm_eps: undefined }));
    expect([bare('mixtral').ropeTheta, bare('phimoe').ropeTheta, bare('qwen3_moe').ropeTheta, bare('olmoe').ropeTheta]).toEqual([1e6, 1e6, 10000, 10000]);
    expect([bare('mixtral').norm.eps, bare('olmoe').norm.eps, bare('qwen2_moe').norm.eps, bare('granitemoe').norm.eps]).toEqual([1e-5, 1e-5, 1e-6, 1e-6]);
  });

  it('accepts num_experts and num_local_experts alike', () => {
    const renamed = edited('olmoe', { num_experts: undefined, num_local_experts: 8 });
    expect(normalizeConfig('c', renamed).numExperts).toBe(8);
    expect(normalizeConfig('c', edited('qwen3_moe', { num_local_experts: undefined, num_experts: 6 })).numExperts).toBe(6);
  });

  it('gives Qwen2-MoE q/k/v biases without a qkv_bias key, and honours qkv_bias: false', () => {
    expect(normalizeConfig('c', edited('qwen2_moe', { qkv_bias: undefined })).qkvBias).toBe(true);
    expect(normalizeConfig('c', edited('qwen2_moe', { qkv_bias: false })).qkvBias).toBe(false);
  });

  it('takes the config-class defaults for absent keys (Qwen3 norm_topk_prob False, Granite multipliers 1)', () => {
    expect(normalizeConfig('c', edited('qwen3_moe', { norm_topk_prob: undefined })).routing).toEqual({ kind: 'softmax-topk', renormalize: false });
    const granite = normalizeConfig('c', edited('granitemoe', { attention_multiplier: undefined, embedding_multiplier: undefined, logits_scaling: undefined }));
    expect([granite.attentionScale, granite.embeddingMultiplier, granite.logitsScaling]).toEqual([1, 1, 1]);
    expect(normalizeConfig('c', edited('mixtral', { num_key_value_heads: undefined })).numKvHeads).toBe(4);
  });

  it('derives head_dim from hidden_size / heads when null or absent', () => {
    expect(normalizeConfig('c', edited('qwen3_moe', { head_dim: undefined })).headDim).toBe(16);
    expect(normalizeConfig('c', edited('qwen3_moe', { head_dim: 32 })).headDim).toBe(32);
  });

  it('places dense layers from decoder_sparse_step and mlp_only_layers (Qwen)', () => {
    expect(normalizeConfig('c', edited('qwen2_moe', { decoder_sparse_step: 2 })).moeLayers).toEqual([false, true]);
    const onlyFirst = normalizeConfig('c', edited('qwen3_moe', { mlp_only_layers: [0] }));
    expect([onlyFirst.moeLayers, onlyFirst.denseFfnSize]).toEqual([[false, true], 128]);
  });

  it('reads the shared expert size, clip_qkv, attention biases, LM-head bias, dtype, token ids and sliding windows', () => {
    expect(normalizeConfig('c', edited('qwen2_moe', { shared_expert_intermediate_size: 0 })).sharedExpert).toBeNull();
    expect(normalizeConfig('c', edited('olmoe', { clip_qkv: 8 })).clipQkv).toBe(8);
    const biased = normalizeConfig('c', edited('phimoe', { attention_bias: true, lm_head_bias: true }));
    expect([biased.qkvBias, biased.oBias, biased.lmHeadBias]).toEqual([true, true, true]);
    expect(normalizeConfig('c', edited('mixtral', { dtype: undefined, torch_dtype: 'bfloat16' })).dtype).toBe('bf16');
    expect(normalizeConfig('c', edited('olmoe', { dtype: 'float16' })).dtype).toBe('f16');
    expect(normalizeConfig('c', edited('olmoe', { eos_token_id: [50279, 1] })).eosTokenId).toBe(50279);
    expect(normalizeConfig('c', edited('mixtral', { sliding_window: 4096 })).slidingWindow).toBe(4096);
    expect(normalizeConfig('c', edited('qwen3_moe', { sliding_window: 4096 })).slidingWindow).toBeNull();
    expect(normalizeConfig('c', edited('qwen3_moe', { sliding_window: 4096, use_sliding_window: true })).slidingWindow).toBe(4096);
    expect(normalizeConfig('c', edited('olmoe', { sliding_window: 4096 })).slidingWindow).toBeNull();
  });

  it('recognises the architecture from `architectures` when model_type is missing', () => {
    expect(normalizeConfig('c', edited('granitemoe', { model_type: undefined })).architecture).toBe('granitemoe');
  });
});

describe('configs we cannot run', () => {
  it('names an unknown architecture and lists the supported ones', () => {
    const { problem, message } = problemOf(edited('mixtral', { model_type: 'jamba', architectures: ['JambaForCausalLM'] }));
    expect(problem).toBe('unknown-architecture');
    expect(message).toMatch(/"jamba".*mixtral, qwen2_moe, qwen3_moe, olmoe, granitemoe, phimoe, deepseek_v2, deepseek_v3, glm4_moe/);
    expect(problemOf({}).problem).toBe('unknown-architecture');
  });

  it('names a missing or malformed field', () => {
    expect(problemOf(edited('mixtral', { hidden_size: undefined }))).toEqual({
      problem: 'bad-config',
      message: expect.stringMatching(/hidden_size .*missing/),
    });
    expect(problemOf(edited('olmoe', { num_experts: undefined })).message).toMatch(/num_local_experts/);
    expect(problemOf(edited('qwen2_moe', { moe_intermediate_size: '32' })).message).toMatch(/moe_intermediate_size must be a non-negative integer/);
    expect(problemOf(edited('mixtral', { num_experts_per_tok: 9 })).message).toMatch(/between 1 and the 8 experts/);
    expect(problemOf(edited('mixtral', { vocab_size: 0 })).message).toMatch(/vocab_size must be at least 1/);
    expect(problemOf(edited('mixtral', { num_key_value_heads: 3 })).message).toMatch(/multiple of num_key_value_heads 3/);
    expect(problemOf(edited('mixtral', { hidden_size: 60 })).message).toMatch(/head_dim 15/);
    expect(problemOf(edited('qwen2_moe', { shared_expert_intermediate_size: undefined })).message).toMatch(/shared_expert_intermediate_size/);
    expect(problemOf(edited('olmoe', { norm_topk_prob: 'yes' })).message).toMatch(/norm_topk_prob must be true or false/);
    expect(problemOf(edited('qwen3_moe', { mlp_only_layers: 'all' })).message).toMatch(/mlp_only_layers/);
    expect(problemOf(edited('phimoe', { num_experts_per_tok: 1 })).message).toMatch(/exactly 2 experts/);
  });

  it('refuses sizes that would make it build huge lists', () => {
    expect(problemOf(edited('mixtral', { num_hidden_layers: 2 ** 40 })).message).toMatch(new RegExp(`${MAX_LAYERS}`));
    expect(problemOf(edited('mixtral', { num_local_experts: 2 ** 40 })).problem).toBe('bad-config');
  });

  it('refuses RoPE scaling, partial rotary and activations it cannot run exactly', () => {
    expect(problemOf(edited('mixtral', { rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 4 } }))).toEqual({
      problem: 'unsupported',
      message: expect.stringMatching(/rope scaling "yarn"/),
    });
    expect(problemOf(edited('phimoe', { rope_parameters: undefined, rope_scaling: { type: 'longrope', short_factor: [1] } })).problem).toBe('unsupported');
    expect(problemOf(edited('qwen2_moe', { rope_scaling: { rope_type: 'dynamic', factor: 2 } })).problem).toBe('unsupported');
    expect(normalizeConfig('c', edited('qwen2_moe', { rope_scaling: { rope_type: 'default' } })).ropeTheta).toBe(10000);
    expect(problemOf(edited('mixtral', { partial_rotary_factor: 0.5 })).problem).toBe('unsupported');
    expect(problemOf(edited('mixtral', { hidden_act: 'gelu' })).message).toMatch(/hidden_act "gelu"/);
    expect(problemOf(edited('mixtral', { rope_parameters: 'fast' })).problem).toBe('bad-config');
  });

  it('refuses text that is not a JSON object', () => {
    expect(() => parseConfigJson('m/config.json', '{"model_type": ')).toThrow(/^m\/config\.json: not valid JSON/);
    expect(() => parseConfigJson('m/config.json', '[]')).toThrow(/not a JSON object/);
  });
});
