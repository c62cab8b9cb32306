/**
 * MoeModelSpec: one normalized description of a decoder-only MoE transformer, whatever family and config
 * generation it came from (see config.ts). Everything downstream (CPU reference, GPU forward, statistics,
 * pruning, export) reads this, never config.json.
 *
 * Letters used in shape comments across the project: T tokens, H hidden, I expert FFN, E experts, K top-k,
 * V vocab, D head dim, L layers.
 */

export type Architecture = 'mixtral' | 'qwen2_moe' | 'qwen3_moe' | 'olmoe' | 'granitemoe' | 'phimoe';

export const ARCHITECTURES: readonly Architecture[] = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'olmoe', 'granitemoe', 'phimoe'];

/**
 * How router logits r [E] become K (expert, weight) pairs:
 * - softmax-topk: p = softmax(r); top-K of p; renormalize p over the K when `renormalize` (Mixtral always,
 *   Qwen2/Qwen3/OLMoE when norm_topk_prob).
 * - topk-softmax: top-K of r, then softmax over those K logits (GraniteMoE's TopKGating).
 * - sparsemixer: PhiMoE at inference (Liu et al. 2023, "Sparse Backpropagation for MoE Training"): the top-1 and
 *   top-2 experts each get the softmax over the logits within a relative `jitterEps` band of the chosen one.
 */
export type RoutingRule = { kind: 'softmax-topk'; renormalize: boolean } | { kind: 'topk-softmax' } | { kind: 'sparsemixer'; jitterEps: number };

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
  /** Multiplies q.k^T: 1/sqrt(D), or Granite's attention_multiplier. */
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
  bosTokenId: number | null;
  eosTokenId: number | null;
  /** Storage dtype of the checkpoint's floating-point weights. */
  dtype: WeightDtype;
}

/** Parameter counts: total, in routed experts (all), and active per token (non-expert + K experts + shared). */
export interface ParameterCounts {
  total: number;
  expert: number;
  perExpert: number;
  active: number;
}

export function countParameters(spec: MoeModelSpec): ParameterCounts {
  const { hiddenSize: H, vocabSize: V, headDim: D, numHeads, numKvHeads, expertFfnSize: I } = spec;
  const normParams = H * (spec.norm.bias ? 2 : 1);
  const qkvOut = (numHeads + 2 * numKvHeads) * D;
  let attention = H * qkvOut + numHeads * D * H;
  if (spec.qkvBias) attention += qkvOut;
  if (spec.oBias) attention += H;
  if (spec.qkNorm === 'per-head') attention += 2 * D;
  if (spec.qkNorm === 'full-width') attention += (numHeads + numKvHeads) * D;
  const perExpert = 3 * H * I;
  let total = V * H + normParams; // embeddings + final norm
  if (!spec.tiedEmbeddings) total += V * H;
  if (spec.lmHeadBias) total += V;
  let expert = 0;
  let activeExperts = 0;
  for (const isMoe of spec.moeLayers) {
    total += attention + 2 * normParams;
    if (isMoe) {
      total += spec.numExperts * H + spec.numExperts * perExpert; // router + experts
      expert += spec.numExperts * perExpert;
      activeExperts += spec.topK * perExpert;
      if (spec.sharedExpert) total += 3 * H * spec.sharedExpert.ffnSize + (spec.sharedExpert.gated ? H : 0);
    } else {
      total += 3 * H * spec.denseFfnSize;
    }
  }
  return { total, expert, perExpert, active: total - expert + activeExperts };
}

/**
 * The longest window the lab runs on a model: its positions, and its sliding window when it has one (this engine
 * attends to the whole window, so a longer one would not be what the model computes). The one definition: the
 * page's requests, the calibration windows and the CLI's --ctx / --seq-len and the page's window limits are all checked against it.
 */
export function contextLimit(spec: Pick<MoeModelSpec, 'maxPositions' | 'slidingWindow'>): number {
  return Math.min(spec.maxPositions, spec.slidingWindow ?? Infinity);
}
