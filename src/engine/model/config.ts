/**
 * config.json -> MoeModelSpec for the six supported families, accepting both config generations
 * (transformers <= 4: `rope_theta` at top level; transformers 5: `rope_parameters.rope_theta`) and the renamed
 * expert counts (`num_experts` vs `num_local_experts`). Field meanings follow each family's modeling file in
 * transformers, and an absent key takes the default of that family's config class (e.g. Qwen3MoeConfig's
 * norm_topk_prob is False, GraniteMoeConfig's attention_multiplier is 1.0, Mixtral's and PhiMoE's rope_theta is
 * 1e6). Anything we cannot run exactly is refused with a reason rather than silently approximated.
 */
import { ModelFileError } from '../errors.ts';
import type { Architecture, MlaSpec, MoeModelSpec, RopeSpec, RoutingRule, WeightDtype, YarnSpec } from './spec.ts';
import { ARCHITECTURES } from './spec.ts';

type Json = Record<string, unknown>;

/** Defaults of each family's config class for the keys whose default differs between families. */
const FAMILY_DEFAULTS: Record<Architecture, { ropeTheta: number; rmsNormEps: number }> = {
  mixtral: { ropeTheta: 1e6, rmsNormEps: 1e-5 },
  qwen2_moe: { ropeTheta: 10000, rmsNormEps: 1e-6 },
  qwen3_moe: { ropeTheta: 10000, rmsNormEps: 1e-6 },
  olmoe: { ropeTheta: 10000, rmsNormEps: 1e-5 },
  granitemoe: { ropeTheta: 10000, rmsNormEps: 1e-6 },
  phimoe: { ropeTheta: 1e6, rmsNormEps: 1e-5 },
  deepseek_v2: { ropeTheta: 10000, rmsNormEps: 1e-6 },
  deepseek_v3: { ropeTheta: 10000, rmsNormEps: 1e-6 },
  glm4_moe: { ropeTheta: 10000, rmsNormEps: 1e-5 },
  gpt_oss: { ropeTheta: 150000, rmsNormEps: 1e-5 },
};

/**
 * gpt_oss's SwiGLU constants: transformers' GptOssExperts hard-codes alpha 1.702 and limit 7.0; the hub config
 * writes the limit as swiglu_limit (OpenAI's reference code reads it), so an absent key means 7.
 */
export const GPT_OSS_SWIGLU = { alpha: 1.702, limit: 7 } as const;

/** YaRN's attention scale for a context extension `scale` (transformers' get_mscale / yarn_get_mscale). */
function yarnMscale(scale: number, mscale = 1): number {
  return scale <= 1 ? 1 : 0.1 * mscale * Math.log(scale) + 1;
}

/**
 * Counts that size per-layer and per-expert lists: far above any published MoE (e.g. 94 layers, 512 experts), and
 * low enough that a hostile config cannot make us build a list of 2^40 layers.
 */
export const MAX_LAYERS = 1024;
export const MAX_EXPERTS = 8192;

const ARCHITECTURE_BY_CLASS: Record<string, Architecture> = {
  MixtralForCausalLM: 'mixtral',
  Qwen2MoeForCausalLM: 'qwen2_moe',
  Qwen3MoeForCausalLM: 'qwen3_moe',
  OlmoeForCausalLM: 'olmoe',
  GraniteMoeForCausalLM: 'granitemoe',
  PhimoeForCausalLM: 'phimoe',
  DeepseekV2ForCausalLM: 'deepseek_v2',
  DeepseekV3ForCausalLM: 'deepseek_v3',
  Glm4MoeForCausalLM: 'glm4_moe',
  GptOssForCausalLM: 'gpt_oss',
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
  const shown = (v: unknown) => (v === undefined ? 'nothing: the key is missing' : JSON.stringify(v)?.slice(0, 60));
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${key} must be a non-negative integer (got ${shown(v)})`);
    return v as number;
  };
  /** Sizes that must be at least 1 (a zero would make empty tensors, or a division by zero for head_dim). */
  const size = (key: string, fallback?: number): number => {
    const v = int(key, fallback);
    if (v < 1) bad(`${key} must be at least 1 (got ${v})`);
    return v;
  };
  const numIn = (source: Json, key: string, fallback?: number): number => {
    const v = source[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${key} must be a number (got ${shown(v)})`);
    return v as number;
  };
  const num = (key: string, fallback?: number): number => numIn(c, key, fallback);
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

  const defaults = FAMILY_DEFAULTS[architecture];
  const deepseek = architecture === 'deepseek_v2' || architecture === 'deepseek_v3';
  const hiddenSize = size('hidden_size');
  const numHeads = size('num_attention_heads');
  // MLA expands keys and values per query head (num_key_value_heads only matters to transformers' cache).
  const numKvHeads = deepseek ? numHeads : size('num_key_value_heads', numHeads);
  // MLA: q.k runs over qk_nope_head_dim + qk_rope_head_dim (its config's head_dim is the rope part alone).
  const headDim = deepseek ? size('qk_nope_head_dim') + size('qk_rope_head_dim') : c.head_dim == null ? hiddenSize / numHeads : size('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2) bad(`head_dim ${headDim} (hidden_size / num_attention_heads) must be an even integer`);
  if (numHeads % numKvHeads) bad(`num_attention_heads ${numHeads} must be a multiple of num_key_value_heads ${numKvHeads}`);
  const numLayers = size('num_hidden_layers');
  if (numLayers > MAX_LAYERS) bad(`num_hidden_layers ${numLayers} is more than the ${MAX_LAYERS} this lab supports`);
  // transformers 5 renamed some families' num_experts to num_local_experts (attribute_map keeps both readable).
  // DeepSeek and GLM-4.5 write n_routed_experts.
  const numExperts = c.num_experts != null ? size('num_experts') : c.n_routed_experts != null ? size('n_routed_experts') : size('num_local_experts');
  if (numExperts > MAX_EXPERTS) bad(`${numExperts} experts is more than the ${MAX_EXPERTS} this lab supports`);
  const topK = size('num_experts_per_tok');
  if (topK > numExperts) bad(`num_experts_per_tok ${topK} must be between 1 and the ${numExperts} experts`);
  const vocabSize = size('vocab_size');

  const ropeParameters = c.rope_parameters ?? null;
  const ropeScaling = c.rope_scaling ?? null;
  for (const [key, value] of [
    ['rope_parameters', ropeParameters],
    ['rope_scaling', ropeScaling],
  ] as const) {
    if (value !== null && (typeof value !== 'object' || Array.isArray(value))) bad(`${key} must be an object`);
  }
  const rope = (ropeParameters ?? {}) as Json;
  const scaling = (ropeScaling ?? {}) as Json;
  const ropeTheta = rope.rope_theta != null ? numIn(rope, 'rope_theta') : num('rope_theta', defaults.ropeTheta);
  if (ropeTheta <= 0) bad(`rope_theta must be positive (got ${ropeTheta})`);
  // Either generation's key may carry the scaling (transformers 5 moved rope_scaling into rope_parameters): any
  // non-default type in either is refused, except YaRN on the DeepSeek families.
  const ropeTypes = [rope.rope_type, scaling.rope_type ?? scaling.type].map((t) => String(t ?? 'default'));
  const ropeType = ropeTypes.find((t) => t !== 'default');
  if (ropeType !== undefined && !((deepseek || architecture === 'gpt_oss') && ropeType === 'yarn')) {
    throw new ModelFileError(
      file,
      'unsupported',
      `rope scaling ${JSON.stringify(ropeType).slice(0, 40)} is not supported yet (only plain RoPE, and YaRN on DeepSeek and gpt_oss models)`,
    );
  }
  const ropeArgs = rope.rope_type != null && rope.rope_type !== 'default' ? rope : scaling;
  const partialRotary = (rope.partial_rotary_factor ?? c.partial_rotary_factor ?? (architecture === 'glm4_moe' ? 0.5 : 1)) as number;
  if (typeof partialRotary !== 'number' || !(partialRotary > 0 && partialRotary <= 1))
    bad(`partial_rotary_factor must be in (0, 1] (got ${shown(partialRotary)})`);
  if (partialRotary !== 1 && architecture !== 'glm4_moe') {
    throw new ModelFileError(file, 'unsupported', `partial_rotary_factor ${JSON.stringify(partialRotary).slice(0, 40)} is not supported`);
  }
  let mla: MlaSpec | null = null;
  if (deepseek) {
    mla = {
      qLoraRank: c.q_lora_rank == null ? null : size('q_lora_rank'),
      kvLoraRank: size('kv_lora_rank'),
      qkNopeDim: size('qk_nope_head_dim'),
      qkRopeDim: size('qk_rope_head_dim'),
      vDim: size('v_head_dim'),
    };
    if (mla.qkRopeDim % 2) bad(`qk_rope_head_dim ${mla.qkRopeDim} must be even`);
  }
  // transformers: dim = int(head_dim * partial_rotary_factor); DeepSeek rotates only the decoupled rope part.
  const rotaryDim = mla ? mla.qkRopeDim : Math.trunc(headDim * partialRotary);
  if (rotaryDim % 2) bad(`the rotary part of a head (${rotaryDim} dims) must be even`);
  let yarn: YarnSpec | null = null;
  let yarnSoftmaxMscale = 1;
  if (ropeType === 'yarn') {
    const maxPositions = int('max_position_embeddings', 4096);
    const originalMaxPositions = ropeArgs.original_max_position_embeddings == null ? maxPositions : numIn(ropeArgs, 'original_max_position_embeddings');
    const factor = ropeArgs.factor == null ? maxPositions / originalMaxPositions : numIn(ropeArgs, 'factor');
    if (!(factor > 0) || !(originalMaxPositions > 0)) bad('YaRN factor and original_max_position_embeddings must be positive');
    const mscale = ropeArgs.mscale == null ? 0 : numIn(ropeArgs, 'mscale');
    const mscaleAllDim = ropeArgs.mscale_all_dim == null ? 0 : numIn(ropeArgs, 'mscale_all_dim');
    // _compute_yarn_parameters: attention_factor, else mscale ratio when both are set, else get_mscale(factor).
    const attentionFactor =
      ropeArgs.attention_factor != null
        ? numIn(ropeArgs, 'attention_factor')
        : mscale && mscaleAllDim
          ? yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim)
          : yarnMscale(factor);
    yarn = {
      factor,
      originalMaxPositions,
      // `or 32` / `or 1` in transformers: a 0 or null takes the default too.
      betaFast: Number(ropeArgs.beta_fast) || 32,
      betaSlow: Number(ropeArgs.beta_slow) || 1,
      attentionFactor,
      truncate: ropeArgs.truncate !== false,
    };
    // DeepSeek's attention (yarn_apply_mscale): the softmax scale times mscale(factor, mscale_all_dim)^2.
    if (mscaleAllDim) yarnSoftmaxMscale = yarnMscale(factor, mscaleAllDim) ** 2;
  }
  // DeepSeek-V2 rotates complex pairs (view_as_complex); V3 too unless rope_interleave is false; others rotate halves.
  const pairs: RopeSpec['pairs'] = architecture === 'deepseek_v2' || (architecture === 'deepseek_v3' && c.rope_interleave !== false) ? 'interleaved' : 'half';
  const ropeSpec: RopeSpec = { rotaryDim, pairs, yarn };
  if (c.hidden_act != null && c.hidden_act !== 'silu') {
    throw new ModelFileError(file, 'unsupported', `hidden_act ${shown(c.hidden_act)} is not supported (SwiGLU with silu is)`);
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
  let norm: MoeModelSpec['norm'] = { kind: 'rms', eps: num('rms_norm_eps', defaults.rmsNormEps), bias: false };
  let attentionScale = 1 / Math.sqrt(headDim);
  let embeddingMultiplier = 1;
  let residualMultiplier = 1;
  let logitsScaling = 1;
  let lmHeadBias = false;
  let attentionWindows: (number | null)[] = Array.from({ length: numLayers }, () => null);
  let attentionSinks = false;
  let routerBias = false;
  let expertBias = false;
  let expertActivation: MoeModelSpec['expertActivation'] = { kind: 'swiglu' };

  const qwenLayers = () => {
    const step = size('decoder_sparse_step', 1);
    const mlpOnly = c.mlp_only_layers ?? [];
    if (!Array.isArray(mlpOnly) || !mlpOnly.every((l) => Number.isSafeInteger(l))) bad('mlp_only_layers must be a list of layer indices');
    // Qwen2/3-MoE decoder layer: MoE unless listed in mlp_only_layers, and only every decoder_sparse_step-th layer.
    const dense = new Set(mlpOnly as number[]);
    moeLayers = moeLayers.map((_, l) => !dense.has(l) && (l + 1) % step === 0);
    // intermediate_size is the dense MLP's width; it only has to be valid when some layer is dense.
    denseFfnSize = moeLayers.every(Boolean) ? int('intermediate_size', 0) : size('intermediate_size');
  };

  switch (architecture) {
    case 'mixtral':
      routing = { kind: 'softmax-topk', renormalize: true };
      expertFfnSize = size('intermediate_size');
      break;
    case 'qwen2_moe':
      routing = { kind: 'softmax-topk', renormalize: bool('norm_topk_prob', false) };
      expertFfnSize = size('moe_intermediate_size');
      qwenLayers();
      // Qwen2-MoE always has q/k/v biases (transformers 5 writes qkv_bias: true).
      qkvBias = bool('qkv_bias', true);
      // Qwen2MoeConfig's default is 5632; a checkpoint without a shared expert sets it to 0.
      if (c.shared_expert_intermediate_size === undefined) bad('shared_expert_intermediate_size is missing');
      if (int('shared_expert_intermediate_size') > 0) {
        sharedExpert = { ffnSize: int('shared_expert_intermediate_size'), gated: true };
      }
      break;
    case 'qwen3_moe':
      routing = { kind: 'softmax-topk', renormalize: bool('norm_topk_prob', false) };
      expertFfnSize = size('moe_intermediate_size');
      qwenLayers();
      qkvBias = oBias = bool('attention_bias', false);
      qkNorm = 'per-head';
      break;
    case 'olmoe':
      routing = { kind: 'softmax-topk', renormalize: bool('norm_topk_prob', false) };
      expertFfnSize = size('intermediate_size');
      qkvBias = oBias = bool('attention_bias', false);
      qkNorm = 'full-width';
      clipQkv = c.clip_qkv == null ? null : num('clip_qkv');
      if (clipQkv !== null && clipQkv <= 0) bad(`clip_qkv must be positive (got ${clipQkv})`);
      break;
    case 'granitemoe':
      routing = { kind: 'topk-softmax' };
      expertFfnSize = size('intermediate_size');
      qkvBias = oBias = bool('attention_bias', false);
      // GraniteMoeAttention: scaling = config.attention_multiplier, whose default is 1.0 (not 1/sqrt(D)).
      attentionScale = num('attention_multiplier', 1);
      embeddingMultiplier = num('embedding_multiplier', 1);
      residualMultiplier = num('residual_multiplier', 1);
      logitsScaling = num('logits_scaling', 1);
      break;
    case 'deepseek_v2':
    case 'deepseek_v3': {
      expertFfnSize = size('moe_intermediate_size');
      const firstDense = int('first_k_dense_replace', architecture === 'deepseek_v3' ? 3 : 0);
      // transformers builds an MoE block for every layer >= first_k_dense_replace and ignores moe_layer_freq
      // (DeepSeek's own code also needs layer % freq == 0): only the frequency both agree on is accepted.
      if (c.moe_layer_freq != null && c.moe_layer_freq !== 1) {
        throw new ModelFileError(file, 'unsupported', `moe_layer_freq ${shown(c.moe_layer_freq)} is not supported (only 1)`);
      }
      moeLayers = moeLayers.map((_, l) => l >= firstDense);
      denseFfnSize = firstDense > 0 ? size('intermediate_size') : int('intermediate_size', 0);
      const nShared = int('n_shared_experts', architecture === 'deepseek_v3' ? 1 : 2);
      if (nShared > 0) sharedExpert = { ffnSize: nShared * expertFfnSize, gated: false };
      qkvBias = oBias = bool('attention_bias', false);
      attentionScale = yarnSoftmaxMscale / Math.sqrt(headDim);
      const scale = num('routed_scaling_factor', architecture === 'deepseek_v3' ? 2.5 : 1);
      if (architecture === 'deepseek_v2') {
        // DeepseekV2TopkRouter: softmax scores; greedy, or group_limited_greedy (groups by their max); never renormalized.
        const method = String(c.topk_method ?? 'greedy');
        if (method !== 'greedy' && method !== 'group_limited_greedy') {
          throw new ModelFileError(file, 'unsupported', `topk_method ${shown(c.topk_method)} is not supported (greedy, group_limited_greedy)`);
        }
        const grouped = method === 'group_limited_greedy';
        routing = {
          kind: 'grouped-topk',
          score: 'softmax',
          correctionBias: false,
          groups: grouped ? size('n_group') : 1,
          topkGroups: grouped ? size('topk_group') : 1,
          groupScore: 'max',
          renormalize: false,
          scale,
        };
      } else {
        // DeepseekV3TopkRouter (noaux_tc): sigmoid scores, correction bias, groups by the sum of their two best.
        routing = {
          kind: 'grouped-topk',
          score: 'sigmoid',
          correctionBias: true,
          groups: size('n_group', 8),
          topkGroups: size('topk_group', 4),
          groupScore: 'top2-sum',
          renormalize: bool('norm_topk_prob', true),
          scale,
        };
      }
      break;
    }
    case 'glm4_moe': {
      expertFfnSize = size('moe_intermediate_size');
      const firstDense = int('first_k_dense_replace', 1);
      moeLayers = moeLayers.map((_, l) => l >= firstDense);
      denseFfnSize = firstDense > 0 ? size('intermediate_size') : int('intermediate_size', 0);
      const nShared = int('n_shared_experts', 1);
      if (nShared > 0) sharedExpert = { ffnSize: nShared * expertFfnSize, gated: false };
      // Glm4MoeAttention: q/k/v biases from attention_bias, o_proj never biased; per-head q/k norm when use_qk_norm.
      qkvBias = bool('attention_bias', false);
      qkNorm = bool('use_qk_norm', false) ? 'per-head' : 'none';
      routing = {
        kind: 'grouped-topk',
        score: 'sigmoid',
        correctionBias: true,
        groups: size('n_group', 1),
        topkGroups: size('topk_group', 1),
        groupScore: 'top2-sum',
        renormalize: bool('norm_topk_prob', true),
        scale: num('routed_scaling_factor', 1),
      };
      break;
    }
    case 'gpt_oss': {
      // GptOssTopKRouter: top-K of the biased router logits, then softmax over those K.
      routing = { kind: 'topk-softmax' };
      expertFfnSize = size('intermediate_size');
      qkvBias = oBias = bool('attention_bias', true);
      attentionSinks = routerBias = expertBias = true;
      expertActivation = { kind: 'clamped-swiglu', alpha: GPT_OSS_SWIGLU.alpha, limit: num('swiglu_limit', GPT_OSS_SWIGLU.limit) };
      if (!(expertActivation.limit > 0)) bad(`swiglu_limit must be positive (got ${expertActivation.limit})`);
      // GptOssConfig: layer_types defaults to sliding_attention on even layers, full_attention on odd ones.
      const types = c.layer_types ?? Array.from({ length: numLayers }, (_, l) => (l % 2 === 0 ? 'sliding_attention' : 'full_attention'));
      if (!Array.isArray(types) || types.length !== numLayers || !types.every((t) => t === 'sliding_attention' || t === 'full_attention')) {
        bad(`layer_types must list 'sliding_attention' or 'full_attention' for each of the ${numLayers} layers`);
      }
      const window = size('sliding_window', 128);
      attentionWindows = (types as string[]).map((t) => (t === 'sliding_attention' ? window : null));
      const quant = c.quantization_config as Json | undefined;
      // MXFP4 expert blocks + scales are decoded on load (weights.ts); any other quantization is refused.
      if (quant != null && quant.quant_method !== 'mxfp4') {
        throw new ModelFileError(file, 'unsupported', `quantization ${shown(quant.quant_method)} is not supported (gpt_oss's mxfp4 is)`);
      }
      break;
    }
    case 'phimoe':
      routing = { kind: 'sparsemixer', jitterEps: num('router_jitter_noise', 0.01) };
      expertFfnSize = size('intermediate_size');
      if (topK !== 2) bad(`PhiMoE's sparsemixer routes to exactly 2 experts (num_experts_per_tok is ${topK})`);
      qkvBias = oBias = bool('attention_bias', false);
      norm = { kind: 'layer', eps: num('rms_norm_eps', 1e-5), bias: true };
      lmHeadBias = bool('lm_head_bias', false);
      break;
  }

  const slidingRaw = c.sliding_window;
  // Mixtral and PhiMoE always use sliding_window when set; Qwen only with use_sliding_window; OLMoE and Granite never.
  const slidingEnabled =
    architecture === 'mixtral' || architecture === 'phimoe'
      ? true
      : architecture === 'qwen2_moe' || architecture === 'qwen3_moe'
        ? c.use_sliding_window === true
        : false;
  const slidingWindow = slidingEnabled && typeof slidingRaw === 'number' && slidingRaw > 0 ? slidingRaw : null;

  if (routing.kind === 'grouped-topk') {
    const { groups, topkGroups } = routing;
    if (numExperts % groups) bad(`n_group ${groups} must divide the ${numExperts} experts`);
    if (topkGroups > groups) bad(`topk_group ${topkGroups} must be at most n_group ${groups}`);
    if (routing.groupScore === 'top2-sum' && numExperts / groups < 2) bad(`each of the n_group ${groups} groups needs at least 2 experts`);
    if (topK > (numExperts / groups) * topkGroups) bad(`num_experts_per_tok ${topK} is more than the experts in topk_group ${topkGroups} groups`);
  }

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
    rope: ropeSpec,
    mla,
    attentionScale,
    embeddingMultiplier,
    residualMultiplier,
    logitsScaling,
    tiedEmbeddings: bool('tie_word_embeddings', false),
    lmHeadBias,
    maxPositions: int('max_position_embeddings', 4096),
    slidingWindow,
    attentionWindows,
    attentionSinks,
    routerBias,
    expertBias,
    expertActivation,
    bosTokenId: tokenId('bos_token_id'),
    eosTokenId: tokenId('eos_token_id'),
    dtype,
  };
}
