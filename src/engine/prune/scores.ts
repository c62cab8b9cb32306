/**
 * Pruning scores as u32 keys, bit for bit what shaders/prune/score.wgsl computes.
 *
 * A score is a non-negative f32, so its bit pattern orders like the value: selection works on the u32 bits
 * (radix select on the GPU, a sort here). Rules that make CPU and GPU agree exactly (docs/pruning.md):
 * - wanda / moe-pruner: key = bits(|w| * c_j) with c_j = fround(sqrt(s_j)) computed once on the host (WGSL's sqrt
 *   is not correctly rounded; the product of two f32 is, in WGSL and here: fround of the exact double product).
 * - Tiny values: GPUs may flush subnormal inputs or results to zero, so every magnitude and product at or below
 *   the smallest normal f32 (bits 0x00800000) counts as 0. "At or below", not "below": a product that rounds up
 *   to exactly 2^-126 may be flushed by hardware that detects tininess before rounding.
 * - Non-finite: |w| = inf or NaN, or a product that overflows, scores +inf (bits 0x7f800000): kept last, as a NaN
 *   sorts last in PyTorch's ascending sort. Column factors are finite by construction (statistics are checked).
 * - random: key = mix32((element * 0x9e3779b1) ^ streamKey), a bijection of the element index, so a matrix has
 *   no ties; streamKey = mix32(seed ^ mix32(stream + 0x632be5ab)) depends on the seed and the matrix's stream id.
 */
import { PruneRequestError, type MaskMethod } from './settings.ts';

export const SCORE_TINY_BITS = 0x00800000;
export const SCORE_INFINITY_BITS = 0x7f800000;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function floatBits(value: number): number {
  f32[0] = value;
  return u32[0];
}

export function bitsToFloat(bits: number): number {
  u32[0] = bits;
  return f32[0];
}

/** The score-bit rule shared by magnitudes and products: tiny -> 0, inf/NaN -> +inf, else unchanged. */
export function clampScoreBits(bits: number): number {
  if (bits <= SCORE_TINY_BITS) return 0;
  return Math.min(bits, SCORE_INFINITY_BITS);
}

/**
 * c_j = fround(sqrt(s_j)) for one statistic vector s [cols] (sum of squared inputs per column); the double sqrt
 * of an f32 rounded to f32 is the correctly rounded f32 sqrt. Tiny factors are flushed to 0 like scores.
 * `what` names the statistic in errors (e.g. 'layers.0.experts.3.input_sqnorm').
 */
export function columnFactors(statistic: Float32Array, what: string): Float32Array {
  const factors = new Float32Array(statistic.length);
  for (let j = 0; j < statistic.length; j++) {
    const s = statistic[j];
    if (!(s >= 0) || !Number.isFinite(s)) {
      throw new PruneRequestError(`${what}[${j}] = ${s}: a squared-norm statistic must be finite and >= 0`);
    }
    const c = Math.fround(Math.sqrt(s));
    factors[j] = floatBits(c) <= SCORE_TINY_BITS ? 0 : c;
  }
  return factors;
}

/** murmur3's 32-bit finalizer (Appleby, public domain): a bijection on u32 with full avalanche. */
export function mix32(value: number): number {
  let x = value >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Per-matrix key of the random method: (seed, stream) -> u32, passed to the GPU as a parameter. */
export function randomStreamKey(seed: number, stream: number): number {
  return mix32((seed >>> 0) ^ mix32((stream + 0x632be5ab) >>> 0));
}

/** The random method's score key of one element (flat row-major index within its matrix). */
export function randomKey(streamKey: number, element: number): number {
  return mix32(Math.imul(element, 0x9e3779b1) ^ streamKey);
}

/** The score key of one weight; `factor` is c_j of its input column (ignored by magnitude and random). */
export function scoreKey(method: MaskMethod, weight: number, factor: number, element: number, streamKey: number): number {
  if (method === 'random') return randomKey(streamKey, element);
  const magnitude = clampScoreBits(floatBits(weight) & 0x7fffffff);
  if (method === 'magnitude' || magnitude === 0 || magnitude === SCORE_INFINITY_BITS) return magnitude;
  return clampScoreBits(floatBits(Math.fround(bitsToFloat(magnitude) * factor)));
}
