/**
 * The model a training run builds: a Mixtral (Jiang et al. 2024) decoder with full multi-head attention (as many
 * key/value heads as query heads), E experts top-K, SwiGLU experts, RMSNorm, RoPE, untied LM head. With
 * unnormalized routing (Qwen-MoE / OLMoE's norm_topk_prob = false: the gates are the top-K softmax probabilities,
 * not renormalized) it is exported as a Qwen2-MoE without a shared expert, which computes the same function. This
 * file fixes the flat f32 parameter layout the GPU trainer uses (one buffer; matrices that are weight-decayed
 * first, then the norms) and its config.json.
 */
import type { ParameterCounts } from '../model/spec.ts';

export interface TrainModelConfig {
  vocabSize: number; // V
  hiddenSize: number; // H
  numLayers: number; // L
  numHeads: number; // head_dim D = H / heads
  numExperts: number; // E
  topK: number; // K
  expertFfnSize: number; // I
  /** Training context S; also max_position_embeddings. */
  contextLength: number;
  ropeTheta: number;
  rmsNormEps: number;
  bosTokenId: number;
  eosTokenId: number;
  /**
   * Gates of the top-K experts: 'renormalized' (absent: Mixtral, g_k = p_k / sum_j p_j over the K) or
   * 'unnormalized' (g_k = p_k, the softmax over all E experts; Qwen-MoE and OLMoE with norm_topk_prob = false).
   */
  routing?: TrainRouting;
}

export type TrainRouting = 'renormalized' | 'unnormalized';

/** Whether the gates are renormalized over the top K (Mixtral) rather than the plain softmax probabilities. */
export function renormalizesTopK(c: TrainModelConfig): boolean {
  return (c.routing ?? 'renormalized') === 'renormalized';
}

/** One tensor of the flat parameter buffer. */
export interface ParamTensor {
  /** Engine name, e.g. 'layers.0.w13'. */
  name: string;
  shape: number[];
  offset: number; // elements
  size: number; // elements
  /** AdamW weight decay applies (matrices), or not (norm weights). */
  decay: boolean;
  /**
   * The forward product reads this matrix transposed (see matmul.wgsl): a copy [batch, cols, rows] kept at the
   * same offset in the transposed buffer. Absent for the embedding (gathered, never multiplied).
   */
  transpose?: { batch: number; rows: number; cols: number };
}

export interface LayerTensors {
  attnNorm: ParamTensor; // [H]
  qkv: ParamTensor; // [3H, H]: q rows, then k, then v
  o: ParamTensor; // [H, H]
  moeNorm: ParamTensor; // [H]
  router: ParamTensor; // [E, H]
  w13: ParamTensor; // [E, 2I, H]: gate (w1) rows, then up (w3) rows
  w2: ParamTensor; // [E, H, I]
}

export interface ParamLayout {
  config: TrainModelConfig;
  tensors: ParamTensor[];
  embed: ParamTensor; // [V, H]
  layers: LayerTensors[];
  finalNorm: ParamTensor; // [H]
  lmHead: ParamTensor; // [V, H]
  /** Elements before this offset are weight-decayed. */
  decayEnd: number;
  count: number;
}

export function headDim(c: TrainModelConfig): number {
  return c.hiddenSize / c.numHeads;
}

/**
 * The most experts per layer the trainer routes: MAX_EXPERTS in shaders/train/router.wgsl, whose invocation holds
 * one token's E softmax probabilities in a private array of that size.
 */
export const TRAIN_MAX_EXPERTS = 128;

/** Checks the config is one the trainer can run; throws RangeError naming the field. */
export function validateConfig(c: TrainModelConfig): void {
  const positive = ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'numExperts', 'topK', 'expertFfnSize', 'contextLength'] as const;
  for (const key of positive) {
    if (!Number.isInteger(c[key]) || c[key] <= 0) throw new RangeError(`model config: ${key} must be a positive integer (got ${c[key]})`);
  }
  const D = headDim(c);
  if (!Number.isInteger(D) || D % 2) throw new RangeError(`model config: hiddenSize ${c.hiddenSize} / numHeads ${c.numHeads} must be an even head size`);
  if (c.topK > c.numExperts || c.numExperts > TRAIN_MAX_EXPERTS) {
    throw new RangeError(`model config: need topK <= numExperts <= ${TRAIN_MAX_EXPERTS} (got ${c.topK}, ${c.numExperts})`);
  }
  if (c.routing !== undefined && c.routing !== 'renormalized' && c.routing !== 'unnormalized') {
    throw new RangeError(`model config: routing must be 'renormalized' or 'unnormalized' (got ${String(c.routing)})`);
  }
}

export function paramLayout(config: TrainModelConfig): ParamLayout {
  validateConfig(config);
  const { vocabSize: V, hiddenSize: H, numExperts: E, expertFfnSize: I } = config;
  const tensors: ParamTensor[] = [];
  let offset = 0;
  const add = (name: string, shape: number[], decay: boolean, transpose?: ParamTensor['transpose']): ParamTensor => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t: ParamTensor = { name, shape, offset, size, decay, transpose };
    tensors.push(t);
    offset += size;
    return t;
  };
  const embed = add('embed', [V, H], true);
  const matrices = Array.from({ length: config.numLayers }, (_, l) => ({
    qkv: add(`layers.${l}.qkv`, [3 * H, H], true, { batch: 1, rows: 3 * H, cols: H }),
    o: add(`layers.${l}.o`, [H, H], true, { batch: 1, rows: H, cols: H }),
    router: add(`layers.${l}.router`, [E, H], true, { batch: 1, rows: E, cols: H }),
    w13: add(`layers.${l}.w13`, [E, 2 * I, H], true, { batch: E, rows: 2 * I, cols: H }),
    w2: add(`layers.${l}.w2`, [E, H, I], true, { batch: E, rows: H, cols: I }),
  }));
  const lmHead = add('lm_head', [V, H], true, { batch: 1, rows: V, cols: H });
  const decayEnd = offset;
  const layers: LayerTensors[] = matrices.map((m, l) => ({
    ...m,
    attnNorm: add(`layers.${l}.attn_norm`, [H], false),
    moeNorm: add(`layers.${l}.moe_norm`, [H], false),
  }));
  const finalNorm = add('final_norm', [H], false);
  return { config, tensors, embed, layers, finalNorm, lmHead, decayEnd, count: offset };
}

/** Parameter counts as `moe-lab info` reports them (src/engine/model/spec.ts countParameters). */
export function parameterCounts(c: TrainModelConfig): ParameterCounts {
  const { hiddenSize: H, vocabSize: V, numExperts: E, topK: K, expertFfnSize: I, numLayers: L } = c;
  const perExpert = 3 * H * I;
  const perLayerShared = 4 * H * H + 2 * H + E * H;
  const total = 2 * V * H + H + L * (perLayerShared + E * perExpert);
  // No shared expert; the input embedding is V x H (the LM head is untied).
  return { total, perExpert, expert: L * E * perExpert, shared: 0, active: total - L * (E - K) * perExpert, embedding: V * H };
}

/** config.json of the exported checkpoint: Mixtral when the gates are renormalized, Qwen2-MoE when they are not. */
export function hfConfigJson(c: TrainModelConfig, dtype: 'float16' | 'bfloat16' | 'float32', routerAuxLossCoef: number): Record<string, unknown> {
  return renormalizesTopK(c) ? mixtralConfigJson(c, dtype, routerAuxLossCoef) : qwen2MoeConfigJson(c, dtype, routerAuxLossCoef);
}

/**
 * config.json as transformers 5 writes Qwen2MoeConfig for this model: every layer sparse, no shared expert
 * (shared_expert_intermediate_size 0: transformers' shared expert then has no columns and adds 0), norm_topk_prob
 * false. Qwen2-MoE always has q/k/v biases: the export writes them as zeros.
 */
export function qwen2MoeConfigJson(c: TrainModelConfig, dtype: 'float16' | 'bfloat16' | 'float32', routerAuxLossCoef: number): Record<string, unknown> {
  return {
    architectures: ['Qwen2MoeForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: c.bosTokenId,
    decoder_sparse_step: 1,
    dtype,
    torch_dtype: dtype,
    eos_token_id: c.eosTokenId,
    hidden_act: 'silu',
    hidden_size: c.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: c.expertFfnSize,
    max_position_embeddings: c.contextLength,
    max_window_layers: c.numLayers,
    mlp_only_layers: [],
    model_type: 'qwen2_moe',
    moe_intermediate_size: c.expertFfnSize,
    norm_topk_prob: false,
    num_attention_heads: c.numHeads,
    num_experts: c.numExperts,
    num_experts_per_tok: c.topK,
    num_hidden_layers: c.numLayers,
    num_key_value_heads: c.numHeads,
    output_router_logits: false,
    pad_token_id: null,
    qkv_bias: true,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_parameters: { rope_theta: c.ropeTheta, rope_type: 'default' },
    router_aux_loss_coef: routerAuxLossCoef,
    shared_expert_intermediate_size: 0,
    sliding_window: null,
    tie_word_embeddings: false,
    transformers_version: '5.17.0',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: c.vocabSize,
  };
}

/** config.json as transformers 5 writes MixtralConfig (both rope_theta and rope_parameters, for older readers). */
export function mixtralConfigJson(c: TrainModelConfig, dtype: 'float16' | 'bfloat16' | 'float32', routerAuxLossCoef: number): Record<string, unknown> {
  return {
    architectures: ['MixtralForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: c.bosTokenId,
    dtype,
    torch_dtype: dtype,
    eos_token_id: c.eosTokenId,
    head_dim: headDim(c),
    hidden_act: 'silu',
    hidden_size: c.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: c.expertFfnSize,
    max_position_embeddings: c.contextLength,
    model_type: 'mixtral',
    num_attention_heads: c.numHeads,
    num_experts_per_tok: c.topK,
    num_hidden_layers: c.numLayers,
    num_key_value_heads: c.numHeads,
    num_local_experts: c.numExperts,
    output_router_logits: false,
    pad_token_id: null,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_parameters: { rope_theta: c.ropeTheta, rope_type: 'default' },
    router_aux_loss_coef: routerAuxLossCoef,
    router_jitter_noise: 0.0,
    sliding_window: null,
    tie_word_embeddings: false,
    transformers_version: '5.17.0',
    use_cache: true,
    vocab_size: c.vocabSize,
  };
}
