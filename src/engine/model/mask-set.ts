/**
 * Pruning masks over the canonical matrices of a model: keep-mask bitsets (bit i & 31 of word i >> 5 is 1 when
 * flat row-major element i is kept, as shaders/common/weights.wgsl reads them) plus, per MoE layer, which experts
 * are still enabled (expert-level pruning: a dropped expert's router logit is treated as -inf, so the routing rule
 * renormalizes over the kept experts).
 *
 * Canonical matrices per layer (src/engine/model/weights.ts): experts.gate_up [E, 2I, H] (gate rows first),
 * experts.down [E, H, I], attn.q [Hq*D, H], attn.k / attn.v [Hkv*D, H], attn.o [H, Hq*D],
 * shared.gate_up [2S, H], shared.down [H, S]. Routers and norms are never pruned.
 */

export const MATRIX_KEYS = ['experts.gate_up', 'experts.down', 'attn.q', 'attn.k', 'attn.v', 'attn.o', 'shared.gate_up', 'shared.down'] as const;

export type MatrixKey = (typeof MATRIX_KEYS)[number];

export interface LayerMasks {
  /** Absent key: that matrix is dense. */
  matrices: Partial<Record<MatrixKey, Uint32Array>>;
  /** [E], 1 = enabled, 0 = dropped; absent: all enabled. */
  expertEnabled?: Uint8Array;
}

export interface MaskSet {
  /** [L]; null: the layer is dense. */
  layers: (LayerMasks | null)[];
}

export function maskWordCount(elements: number): number {
  return Math.ceil(elements / 32);
}

export function isKept(mask: Uint32Array, i: number): boolean {
  return ((mask[i >>> 5] >>> (i & 31)) & 1) === 1;
}

/** A mask keeping everything (the tail bits beyond `elements` are 0). */
export function denseMask(elements: number): Uint32Array {
  const mask = new Uint32Array(maskWordCount(elements)).fill(0xffffffff);
  const tail = elements & 31;
  if (tail) mask[mask.length - 1] = (2 ** tail - 1) >>> 0;
  return mask;
}

/** Number of kept elements among the first `elements` bits. */
export function countKept(mask: Uint32Array, elements: number): number {
  let kept = 0;
  for (let w = 0; w < mask.length; w++) {
    let word = mask[w];
    if (w === mask.length - 1 && elements & 31) word &= (2 ** (elements & 31) - 1) >>> 0;
    word = word - ((word >>> 1) & 0x55555555);
    word = (word & 0x33333333) + ((word >>> 2) & 0x33333333);
    kept += (((word + (word >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return kept;
}

/** Zeroes the pruned elements of `values` (a copy). */
export function applyMask(values: Float32Array, mask: Uint32Array): Float32Array {
  const out = new Float32Array(values);
  for (let i = 0; i < out.length; i++) if (!isKept(mask, i)) out[i] = 0;
  return out;
}
