/**
 * Keep-mask bitsets (shaders/common/weights.wgsl): bit (i & 31) of word (i >> 5) over a matrix's flat row-major
 * element index; 1 = kept, 0 = pruned. Bits past the last element are 0.
 */

/** Words of a bitset over `count` elements. */
export function maskWordCount(count: number): number {
  return Math.ceil(count / 32);
}

/** A bitset with all `count` elements kept. */
export function allKeptMask(count: number): Uint32Array {
  const mask = new Uint32Array(maskWordCount(count)).fill(0xffffffff);
  if (count % 32) mask[mask.length - 1] = (2 ** (count % 32) - 1) >>> 0;
  return mask;
}

export function isKept(mask: Uint32Array, element: number): boolean {
  return ((mask[element >>> 5] >>> (element & 31)) & 1) === 1;
}

export function markPruned(mask: Uint32Array, element: number): void {
  mask[element >>> 5] &= ~(1 << (element & 31));
}

function popcount32(word: number): number {
  let x = word >>> 0;
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Kept elements among the first `count` of a bitset (words from `wordOffset`). */
export function countKept(mask: Uint32Array, count: number, wordOffset = 0): number {
  let kept = 0;
  const words = maskWordCount(count);
  for (let w = 0; w < words; w++) {
    let word = mask[wordOffset + w];
    if (w === words - 1 && count % 32) word &= (2 ** (count % 32) - 1) >>> 0;
    kept += popcount32(word);
  }
  return kept;
}

/** Fraction of the first `count` elements pruned. */
export function achievedSparsity(mask: Uint32Array, count: number, wordOffset = 0): number {
  return count === 0 ? 0 : 1 - countKept(mask, count, wordOffset) / count;
}

/** Zeroes the pruned elements of `values` (a copy). */
export function applyMask(values: Float32Array, mask: Uint32Array): Float32Array {
  const out = new Float32Array(values);
  for (let i = 0; i < out.length; i++) if (!isKept(mask, i)) out[i] = 0;
  return out;
}
