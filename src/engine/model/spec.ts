/**
 * MoeModelSpec: one normalized description of a decoder-only MoE transformer, whatever family and config
 * generation it came from (see config.ts). Everything downstream (CPU reference, GPU forward, statistics,
 * pruning, export) reads this, never config.json.
 *
 * Letters used in shape comments across the project: T tokens, H hidden, I expert FFN, E experts, K top-k,
 * V vocab, D head dim, L layers.
 */

export type Architecture = 'mixtral' | 'qwen2_moe' | 'qwen3_moe' | 'olmoe' | 'granitemoe' | 'phimoe' | 'deepseek_v2' | 'deepseek_v3' | 'glm4_moe' | 'gpt_oss';

export const ARCHITECTURES: readonly Architecture[] = [
  'mixtral',
  'qwen2_moe',
  'qwen3_moe',
  'olmoe',
  'granitemoe',
  'phimoe',
  'deepseek_v2',
  'deepseek_v3',
  'glm4_moe',
  'gpt_oss',
];

/**
 * How router logits r [E] become K (expert, weight) pairs:
 * - softmax-topk: p = softmax(r); top-K of p; renormalize p over the K when `renormalize` (Mixtral always,
 *   Qwen2/Qwen3/OLMoE when norm_topk_prob).
 * - topk-softmax: top-K of r, then softmax over those K logits (GraniteMoE's TopKGating).
 * - sparsemixer: PhiMoE at inference (Liu et al. 2023, "Sparse Backpropagation for MoE Training"): the top-1 and
 *   top-2 experts each get the softmax over the logits within a relative `jitterEps` band of the chosen one.
 * - grouped-topk: DeepSeek-V2/V3 and GLM-4.5 (DeepSeek-V3 report, Sec. 2.1.2): scores s = softmax(r) or sigmoid(r);
 *   the choice ranks c = s + b, b the layer's e_score_correction_bias when `correctionBias` (selection only); with
 *   `groups` > 1 the E experts form `groups` equal groups, each scored by its best c ('max', DeepSeek-V2's
 *   group_limited_greedy) or the sum of its two best ('top2-sum', V3), and only the `topkGroups` best groups compete;
 *   top-K of c among them; weights s (never c), divided by their sum when `renormalize` (+1e-20 as transformers),
 *   then times `scale` (routed_scaling_factor).
 */
export type RoutingRule = { kind: 'softmax-topk'; renormalize: boolean } | { kind: 'topk-softmax' } | { kind: 'sparsemixer'; jitterEps: number } | GroupedTopk;

export interface GroupedTopk {
  kind: 'grouped-topk';
  score: 'softmax' | 'sigmoid';
  correctionBias: boolean;
  groups: number;
  topkGroups: number;
  groupScore: 'max' | 'top2-sum';
  renormalize: boolean;
  scale: number;
}

export type NormKind = 'rms' | 'layer';

export interface NormSpec {
  kind: NormKind;
  eps: number;
  /** LayerNorm with a bias tensor (PhiMoE). */
  bias: boolean;
}

/** q/k normalization after the projections: none, per head over D (Qwen3-MoE), or over the full q/k width (OLMoE). */
export type QkNorm = 'none' | 'per-head' | 'full-width';

export interface SharedExpertSpec {
  /** FFN width of the shared expert. */
  ffnSize: number;
  /** Qwen2-MoE multiplies the shared expert's output by sigmoid(x . shared_expert_gate). */
  gated: boolean;
}

export type WeightDtype = 'f32' | 'f16' | 'bf16';

/**
 * The experts' activation: SwiGLU down(silu(gate) * up) (Shazeer 2020), or gpt_oss's clamped variant
 * (transformers' GptOssExperts._apply_gate): g = min(gate, limit), u = clamp(up, -limit, limit),
 * act = (u + 1) * g * sigmoid(alpha * g).
 */
export type ExpertActivation = { kind: 'swiglu' } | { kind: 'clamped-swiglu'; alpha: number; limit: number };

/**
 * Multi-head latent attention (DeepSeek-V2 report, Sec. 2.1; transformers' DeepseekV2/V3Attention), per token x [H]:
 *   q = q_proj(x), or q_b_proj(rms(q_a_proj(x))) when qLoraRank is set          [Hq, dn + dr]
 *   [c, kr] = kv_a_proj_with_mqa(x);  c = rms(c) (kv_a_layernorm)             [r], [dr]
 *   [k_nope, v] = kv_b_proj(c) per head                                       [Hq, dn], [Hq, dv]
 *   k = [k_nope, rope(kr)] (the decoupled rope key, one for all heads),  q = [q_nope, rope(q_rope)]
 * then causal softmax(q k^T * scale) v and o_proj [H, Hq * dv]. The norms use eps 1e-6 (the modules' default).
 */
/** Epsilon of MLA's q_a_layernorm and kv_a_layernorm: transformers builds them with the RMSNorm default, not rms_norm_eps. */
export const MLA_NORM_EPS = 1e-6;

export interface MlaSpec {
  qLoraRank: number | null;
  kvLoraRank: number; // r
  qkNopeDim: number; // dn
  qkRopeDim: number; // dr
  vDim: number; // dv
}

/**
 * YaRN (Peng et al. 2023, "YaRN: Efficient Context Window Extension"), transformers' _compute_yarn_parameters:
 * per frequency a ramp between interpolated (theta^-2i/d / factor) and original frequencies over the dims between the
 * beta_fast and beta_slow rotation counts at `originalMaxPositions`; cos and sin are multiplied by `attentionFactor`.
 */
export interface YarnSpec {
  factor: number;
  originalMaxPositions: number;
  betaFast: number;
  betaSlow: number;
  attentionFactor: number;
  truncate: boolean;
}

/** How RoPE (base ropeTheta) applies beyond the plain full-width rotate-half default. */
export interface RopeSpec {
  /** Leading dims of each head that rotate (GLM-4.5's partial_rotary_factor 0.5: D / 2); MLA: dr. */
  rotaryDim: number;
  /** 'half': pairs (i, i + d/2) (rotate_half); 'interleaved': pairs (2i, 2i + 1) (DeepSeek's complex / rope_interleave). */
  pairs: 'half' | 'interleaved';
  yarn: YarnSpec | null;
}

export interface MoeModelSpec {
  architecture: Architecture;
  vocabSize: number; // V
  hiddenSize: number; // H
  numLayers: number; // L
  numHeads: number;
  numKvHeads: number;
  headDim: number; // D
  numExperts: number; // E
  topK: number; // K
  expertFfnSize: number; // I
  /** Per layer: true for an MoE block, false for a dense SwiGLU MLP (Qwen's mlp_only_layers / decoder_sparse_step). */
  moeLayers: boolean[];
  /** Width of the dense MLP of non-MoE layers (config intermediate_size). */
  denseFfnSize: number;
  sharedExpert: SharedExpertSpec | null;
  routing: RoutingRule;
  norm: NormSpec;
  qkNorm: QkNorm;
  /** Biases on q/k/v and on o (Qwen2-MoE has q/k/v biases; `attention_bias` sets all four elsewhere). */
  qkvBias: boolean;
  oBias: boolean;
  /** OLMoE clamps q, k and v to [-clip, clip] after projection; null when absent. */
  clipQkv: number | null;
  ropeTheta: number;
  /** Which dims of a head rotate, their pair layout, YaRN. */
  rope: RopeSpec;
  /** DeepSeek's multi-head latent attention instead of q/k/v projections; null for ordinary (GQA) attention. */
  mla: MlaSpec | null;
  /** Multiplies q.k^T: 1/sqrt(D), or Granite's attention_multiplier, or MLA's (dn + dr)^-1/2 x YaRN mscale^2. */
  attentionScale: number;
  /** Granite: embeddings x embedding_multiplier, residual branches x residual_multiplier, logits / logits_scaling. */
  embeddingMultiplier: number;
  residualMultiplier: number;
  logitsScaling: number;
  tiedEmbeddings: boolean;
  lmHeadBias: boolean;
  /** Context the model was trained for (max_position_embeddings). */
  maxPositions: number;
  /** Mixtral/Qwen sliding window, null when full attention; windows longer than it are refused. */
  slidingWindow: number | null;
  /**
   * Per layer: the window w of a sliding-window attention layer (query t attends to keys t-w+1..t), null for full
   * causal attention. gpt_oss alternates them (layer_types); the other families have all null (their sliding
   * window is a context limit, above).
   */
  attentionWindows: (number | null)[];
  /** gpt_oss: a learned logit per head joins each attention softmax and takes no value (attention sinks). */
  attentionSinks: boolean;
  /** gpt_oss: router logits = x . router^T + bias [E]; experts add biases gate_up [E, 2I] and down [E, H]. */
  routerBias: boolean;
  expertBias: boolean;
  expertActivation: ExpertActivation;
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** Storage dtype of the checkpoint's floating-point weights. */
  dtype: WeightDtype;
}

/**
 * Parameter counts: total, in routed experts (all), per routed expert, in shared experts (all layers), active per
 * token (everything but the routed experts, plus K of them per MoE layer), and the input embedding table (V x H),
 * of which a token reads one row: published "activated parameter" figures (DeepSeek-V2-Lite's 2.4B, GLM-4.5-Air's
 * 12B) leave it out, so `active - embedding` is the number to compare with them. Multi-token-prediction layers
 * (num_nextn_predict_layers) are not part of the model transformers runs and are not counted.
 */
export interface ParameterCounts {
  total: number;
  expert: number;
  perExpert: number;
  shared: number;
  active: number;
  embedding: number;
}

/** Width of the o projection's input (the attention output per token): Hq * D, or Hq * dv under MLA. */
export function attentionOutputWidth(spec: Pick<MoeModelSpec, 'numHeads' | 'headDim' | 'mla'>): number {
  return spec.numHeads * (spec.mla?.vDim ?? spec.headDim);
}

/** Weights of one attention block (projections, their biases, q/k norms; MLA's LoRA factors and norms). */
function attentionParameters(spec: MoeModelSpec): number {
  const { hiddenSize: H, headDim: D, numHeads, numKvHeads } = spec;
  if (spec.mla) {
    const { qLoraRank: rq, kvLoraRank: r, qkRopeDim: dr, qkNopeDim: dn, vDim: dv } = spec.mla;
    const bias = spec.qkvBias ? 1 : 0;
    // q_a_proj (+bias), q_a_layernorm, q_b_proj; or q_proj alone.
    const q = rq === null ? H * numHeads * D : H * rq + bias * rq + rq + rq * numHeads * D;
    // kv_a_proj_with_mqa (+bias), kv_a_layernorm, kv_b_proj; o_proj (+bias).
    const kv = H * (r + dr) + bias * (r + dr) + r + r * numHeads * (dn + dv);
    return q + kv + numHeads * dv * H + (spec.oBias ? H : 0);
  }
  const qkvOut = (numHeads + 2 * numKvHeads) * D;
  let attention = H * qkvOut + numHeads * D * H;
  if (spec.qkvBias) attention += qkvOut;
  if (spec.oBias) attention += H;
  if (spec.qkNorm === 'per-head') attention += 2 * D;
  if (spec.qkNorm === 'full-width') attention += (numHeads + numKvHeads) * D;
  if (spec.attentionSinks) attention += numHeads;
  return attention;
}

export function countParameters(spec: MoeModelSpec): ParameterCounts {
  const { hiddenSize: H, vocabSize: V, expertFfnSize: I } = spec;
  const normParams = H * (spec.norm.bias ? 2 : 1);
  const attention = attentionParameters(spec);
  const perExpert = 3 * H * I + (spec.expertBias ? 2 * I + H : 0);
  const router =
    spec.numExperts * H + (spec.routing.kind === 'grouped-topk' && spec.routing.correctionBias ? spec.numExperts : 0) + (spec.routerBias ? spec.numExperts : 0);
  let total = V * H + normParams; // embeddings + final norm
  if (!spec.tiedEmbeddings) total += V * H;
  if (spec.lmHeadBias) total += V;
  let expert = 0;
  let shared = 0;
  let activeExperts = 0;
  for (const isMoe of spec.moeLayers) {
    total += attention + 2 * normParams;
    if (isMoe) {
      total += router + spec.numExperts * perExpert;
      expert += spec.numExperts * perExpert;
      activeExperts += spec.topK * perExpert;
      if (spec.sharedExpert) shared += 3 * H * spec.sharedExpert.ffnSize + (spec.sharedExpert.gated ? H : 0);
    } else {
      total += 3 * H * spec.denseFfnSize;
    }
  }
  total += shared;
  return { total, expert, perExpert, shared, active: total - expert + activeExperts, embedding: V * H };
}

/**
 * The longest window the lab runs on a model: its positions, and its sliding window when it has one (this engine
 * attends to the whole window, so a longer one would not be what the model computes). The one definition: the
 * page's requests, the calibration windows and the CLI's --ctx / --seq-len and the page's window limits are all checked against it.
 */
export function contextLimit(spec: Pick<MoeModelSpec, 'maxPositions' | 'slidingWindow'>): number {
  return Math.min(spec.maxPositions, spec.slidingWindow ?? Infinity);
}
