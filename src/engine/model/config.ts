/**
 * config.json -> MoeModelSpec for the six supported families, accepting both config generations
 * (transformers <= 4: `rope_theta` at top level; transformers 5: `rope_parameters.rope_theta`) and the renamed
 * expert counts (`num_experts` vs `num_local_experts`). Field meanings follow each family's modeling file in
 * transformers; anything we cannot run exactly is refused with a reason rather than silently approximated.
 */
import { ModelFileError } from '../errors.ts';
import type { Architecture, MoeModelSpec, RoutingRule, WeightDtype } from './spec.ts';
import { ARCHITECTURES } from './spec.ts';

type Json = Record<string, unknown>;

const ARCHITECTURE_BY_CLASS: Record<string, Architecture> = {
  MixtralForCausalLM: 'mixtral',
  Qwen2MoeForCausalLM: 'qwen2_moe',
  Qwen3MoeForCausalLM: 'qwen3_moe',
  OlmoeForCausalLM: 'olmoe',
  GraniteMoeForCausalLM: 'granitemoe',
  PhimoeForCausalLM: 'phimoe',
};

export function parseConfigJson(file: string, text: string): MoeModelSpec {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(file, 'bad-json', `not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFileError(file, 'bad-json', 'not a JSON object');
  return normalizeConfig(file, json as Json);
}

export function normalizeConfig(file: string, c: Json): MoeModelSpec {
  const bad = (detail: string): never => {
    throw new ModelFileError(file, 'bad-config', detail);
  };
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${key} must be a non-negative integer (got ${JSON.stringify(v)})`);
    return v as number;
  };
  const num = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} must be a number (got ${JSON.stringify(v)})`);
    return v as number;
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'boolean') bad(`${key} must be true or false`);
    return v as boolean;
  };

  const modelType = c.model_type;
  const classes = Array.isArray(c.architectures) ? (c.architectures as unknown[]) : [];
  const fromClass = classes.map((n) => ARCHITECTURE_BY_CLASS[String(n)]).find(Boolean);
  const architecture = (ARCHITECTURES as readonly string[]).includes(String(modelType)) ? (modelType as Architecture) : fromClass;
  if (!architecture) {
    throw new ModelFileError(
      file,
      'unknown-architecture',
      `unsupported architecture ${JSON.stringify(modelType ?? classes[0] ?? null)}; supported: ${ARCHITECTURES.join(', ')}`,
    );
  }

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = c.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2) bad(`head_dim ${headDim} must be a positive even integer`);
  if (numHeads === 0 || numKvHeads === 0 || numHeads % numKvHeads) bad(`num_attention_heads ${numHeads} must be a multiple of num_key_value_heads ${numKvHeads}`);
  const numLayers = int('num_hidden_layers');
  const numExperts = c.num_experts != null ? int('num_experts') : int('num_local_experts');
  const topK = int('num_experts_per_tok');
  if (numExperts < 1 || topK < 1 || topK > numExperts) bad(`num_experts_per_tok ${topK} must be between 1 and the ${numExperts} experts`);
  const vocabSize = int('vocab_size');

  const ropeParameters = (c.rope_parameters ?? null) as Json | null;
  const ropeTheta = typeof ropeParameters?.rope_theta === 'number' ? ropeParameters.rope_theta : num('rope_theta', 10000);
  const ropeScaling = (c.rope_scaling ?? null) as Json | null;
  const ropeType = String(ropeParameters?.rope_type ?? ropeScaling?.rope_type ?? ropeScaling?.type ?? 'default');
  if (ropeType !== 'default') {
    throw new ModelFileError(file, 'unsupported', `rope scaling '${ropeType}' is not supported yet (only plain RoPE)`);
  }
  if (c.partial_rotary_factor != null && c.partial_rotary_factor !== 1) {
    throw new ModelFileError(file, 'unsupported', `partial_rotary_factor ${c.partial_rotary_factor} is not supported`);
  }
  if (c.hidden_act != null && c.hidden_act !== 'silu') {
    throw new ModelFileError(file, 'unsupported', `hidden_act '${c.hidden_act}' is not supported (SwiGLU with silu is)`);
  }

  let routing: RoutingRule;
  let expertFfnSize: number;
  let sharedExpert: MoeModelSpec['sharedExpert'] = null;
  let moeLayers = Array.from({ length: numLayers }, () => true);
  let denseFfnSize = 0;
  let qkvBias = false;
  let oBias = false;
  let qkNorm: MoeModelSpec['qkNorm'] = 'none';
  let clipQkv: number | null = null;
  let norm: MoeModelSpec['norm'] = { kind: 'rms', eps: num('rms_norm_eps', 1e-6), bias: false };
  let attentionScale = 1 / Math.sqrt(headDim);
  let embeddingMultiplier = 1;
  let residualMultiplier = 1;
  let logitsScaling = 1;
  let lmHeadBias = false;

  const qwenLayers = () => {
    const step = int('decoder_sparse_step', 1);
    const mlpOnly = Array.isArray(c.mlp_only_layers) ? (c.mlp_only_layers as number[]) : [];
    moeLayers = moeLayers.map((_, l) => !mlpOnly.includes(l) && step > 0 && (l + 1) % step === 0);
    denseFfnSize = int('intermediate_size');
  };

  switch (architecture) {
    case 'mixtral':
      routing = { kind: 'softmax-topk', renormalize: true };
      expertFfnSize = int('intermediate_size');
      break;
    case 'qwen2_moe':
      routing = { kind: 'softmax-topk', renormalize: bool('norm_topk_prob', false) };
      expertFfnSize = int('moe_intermediate_size');
      qwenLayers();
      // Qwen2-MoE always has q/k/v biases (transformers 5 writes qkv_bias: true).
      qkvBias = bool('qkv_bias', true);
      if (int('shared_expert_intermediate_size', 0) > 0) {
        sharedExpert = { ffnSize: int('shared_expert_intermediate_size'), gated: true };
      }
      break;
    case 'qwen3_moe':
      routing = { kind: 'softmax-topk', renormalize: bool('norm_topk_prob', true) };
      expertFfnSize = int('moe_intermediate_size');
      qwenLayers();
      qkvBias = oBias = bool('attention_bias', false);
      qkNorm = 'per-head';
      break;
    case 'olmoe':
      routing = { kind: 'softmax-topk', renormalize: bool('norm_topk_prob', false) };
      expertFfnSize = int('intermediate_size');
      qkvBias = oBias = bool('attention_bias', false);
      qkNorm = 'full-width';
      clipQkv = c.clip_qkv == null ? null : num('clip_qkv');
      break;
    case 'granitemoe':
      routing = { kind: 'topk-softmax' };
      expertFfnSize = int('intermediate_size');
      qkvBias = oBias = bool('attention_bias', false);
      attentionScale = num('attention_multiplier', attentionScale);
      embeddingMultiplier = num('embedding_multiplier', 1);
      residualMultiplier = num('residual_multiplier', 1);
      logitsScaling = num('logits_scaling', 1);
      break;
    case 'phimoe':
      routing = { kind: 'sparsemixer', jitterEps: num('router_jitter_noise', 0.01) };
      expertFfnSize = int('intermediate_size');
      if (topK !== 2) bad(`PhiMoE's sparsemixer routes to exactly 2 experts (num_experts_per_tok is ${topK})`);
      qkvBias = oBias = bool('attention_bias', false);
      norm = { kind: 'layer', eps: num('rms_norm_eps', 1e-5), bias: true };
      lmHeadBias = bool('lm_head_bias', false);
      break;
  }

  const slidingRaw = c.sliding_window;
  const slidingEnabled = architecture === 'qwen2_moe' || architecture === 'qwen3_moe' ? c.use_sliding_window === true : true;
  const slidingWindow = slidingEnabled && typeof slidingRaw === 'number' && slidingRaw > 0 ? slidingRaw : null;

  const dtypeName = String(c.torch_dtype ?? c.dtype ?? 'float32');
  const dtype: WeightDtype = dtypeName.includes('bfloat16') ? 'bf16' : dtypeName.includes('float16') ? 'f16' : 'f32';

  const tokenId = (key: string): number | null => {
    const v = c[key];
    if (Array.isArray(v)) return typeof v[0] === 'number' ? v[0] : null;
    return typeof v === 'number' ? v : null;
  };

  return {
    architecture,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    numExperts,
    topK,
    expertFfnSize,
    moeLayers,
    denseFfnSize,
    sharedExpert,
    routing,
    norm,
    qkNorm,
    qkvBias,
    oBias,
    clipQkv,
    ropeTheta,
    attentionScale,
    embeddingMultiplier,
    residualMultiplier,
    logitsScaling,
    tiedEmbeddings: bool('tie_word_embeddings', false),
    lmHeadBias,
    maxPositions: int('max_position_embeddings', 4096),
    slidingWindow,
    bosTokenId: tokenId('bos_token_id'),
    eosTokenId: tokenId('eos_token_id'),
    dtype,
  };
}
