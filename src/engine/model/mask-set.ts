/**
 * Pruning masks over the canonical matrices of a model: keep-mask bitsets (bit i & 31 of word i >> 5 is 1 when
 * flat row-major element i is kept, as shaders/common/weights.wgsl reads them) plus, per MoE layer, which experts
 * are still enabled (expert-level pruning: a dropped expert's router logit is treated as -inf, so the routing rule
 * renormalizes over the kept experts).
 *
 * Canonical matrices per layer (src/engine/model/weights.ts): experts.gate_up [E, 2I, H] (gate rows first),
 * experts.down [E, H, I], attn.q [Hq*D, H], attn.k / attn.v [Hkv*D, H], attn.o [H, Hq*D],
 * shared.gate_up [2S, H], shared.down [H, S]. Multi-head latent attention (MlaSpec) has no attn.k / attn.v but
 * attn.q_a [rq, H] and attn.q_b [Hq*D, rq] (q_a_proj, q_b_proj; attn.q is q_proj when q_lora_rank is null),
 * attn.kv_a [r + dr, H] (kv_a_proj_with_mqa) and attn.kv_b [Hq*(dn + dv), r]; attn.o is [H, Hq*dv].
 * Routers and norms are never pruned.
 */

export const MATRIX_KEYS = [
  'experts.gate_up',
  'experts.down',
  'attn.q',
  'attn.k',
  'attn.v',
  'attn.o',
  'attn.q_a',
  'attn.q_b',
  'attn.kv_a',
  'attn.kv_b',
  'shared.gate_up',
  'shared.down',
] as const;

export type MatrixKey = (typeof MATRIX_KEYS)[number];

export interface LayerMasks {
  /** Absent key: that matrix is dense. */
  matrices: Partial<Record<MatrixKey, Uint32Array>>;
  /** [E], 1 = enabled, 0 = dropped; absent: all enabled. */
  expertEnabled?: Uint8Array;
  /** Steering only (never in a masks file): every token of this layer routed to this expert alone with gate 1 (src/engine/model/steering.ts). */
  forcedExpert?: number;
}

export interface MaskSet {
  /** [L]; null: the layer is dense. */
  layers: (LayerMasks | null)[];
}

// The bitset helpers live in keep-mask.ts (one definition); re-exported here beside the MaskSet they serve.
export { allKeptMask, applyMask, countKept, isKept, maskWordCount } from './keep-mask.ts';
