/**
 * Weights in their storage dtype (little-endian bytes as in safetensors, packed two per u32 for f16 / bf16, see
 * shaders/common/weights.wgsl) and back. Encoding rounds to nearest, ties to even, as torch's .to(float16 /
 * bfloat16) does; decoding is exact. Used to run the pruning paths on f16 / bf16 copies of f32 matrices.
 */
import { f16ToF32 } from '../io/safetensors.ts';
import type { WeightDtype } from '../model/spec.ts';
import { bitsToFloat, floatBits } from './scores.ts';

/** f32 value -> f16 bits, round to nearest even (overflow -> inf, NaN -> quiet NaN). */
export function f32ToF16Bits(value: number): number {
  const bits = floatBits(value);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  let half: number;
  let rest: number;
  let halfway: number;
  if (e <= 0) {
    // f16 subnormal: m * 2^-24 with m = (1.mantissa) * 2^(e - 14 + 10) -> shift the 24-bit significand.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    half = mantissa >>> shift;
    rest = mantissa & ((1 << shift) - 1);
    halfway = 1 << (shift - 1);
  } else {
    half = (e << 10) | (mantissa >>> 13);
    rest = mantissa & 0x1fff;
    halfway = 0x1000;
  }
  // A carry out of the mantissa correctly bumps the exponent (up to inf).
  if (rest > halfway || (rest === halfway && half & 1)) half++;
  return sign | half;
}

/** f32 value -> bf16 bits (the upper half of the f32), round to nearest even; NaN stays NaN. */
export function f32ToBf16Bits(value: number): number {
  const bits = floatBits(value);
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Values rounded to `dtype` and stored as its little-endian bytes (length padded to whole u32 words). */
export function encodeWeights(values: Float32Array, dtype: WeightDtype): Uint8Array {
  if (dtype === 'f32') {
    const out = new Uint8Array(values.length * 4);
    new Float32Array(out.buffer).set(values);
    return out;
  }
  const halves = new Uint16Array(Math.ceil(values.length / 2) * 2);
  const encode = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) halves[i] = encode(values[i]);
  return new Uint8Array(halves.buffer);
}

/** The first `count` values stored in `bytes` as `dtype`, widened exactly to f32. */
export function decodeWeights(bytes: Uint8Array, dtype: WeightDtype, count: number): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (dtype === 'f32') out[i] = view.getFloat32(4 * i, true);
    else if (dtype === 'f16') out[i] = f16ToF32(view.getUint16(2 * i, true));
    else out[i] = bitsToFloat(view.getUint16(2 * i, true) << 16);
  }
  return out;
}
