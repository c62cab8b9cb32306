/**
 * Weight storage dtypes on the CPU side: f32 values rounded to f16 / bf16 (round to nearest, ties to even, as
 * torch's `.to(dtype)` does) and encoded as the little-endian bytes a safetensors file holds. Tests use them to
 * build packed weights and the reference's rounded copy; the benchmark uses them for synthetic checkpoints.
 */
import { f16ToF32 } from './safetensors.ts';
import type { WeightDtype } from '../model/spec.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bf16 bits of f32 `value`: the top 16 bits after round-to-nearest-even (NaN kept quiet). */
export function f32ToBf16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f16 bits of `value`, round-to-nearest-even, with subnormals, overflow to infinity and NaN. */
export function f32ToF16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (rest > half || (rest === half && result & 1)) result++;
    return sign | result;
  }
  let result = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && result & 1)) result++; // may carry into the exponent: still correct
  return sign | result;
}

function bf16BitsToF32(bits: number): number {
  u32[0] = bits << 16;
  return f32[0];
}

/** `values` as stored in `dtype` and read back (the rounding a checkpoint in that dtype applies). */
export function roundToDtype(values: ArrayLike<number>, dtype: WeightDtype): Float32Array {
  const out = Float32Array.from(values);
  if (dtype === 'f16') for (let i = 0; i < out.length; i++) out[i] = f16ToF32(f32ToF16Bits(out[i]));
  if (dtype === 'bf16') for (let i = 0; i < out.length; i++) out[i] = bf16BitsToF32(f32ToBf16Bits(out[i]));
  return out;
}

/** The little-endian bytes of `values` in `dtype`, exactly as a safetensors file stores them. */
export function encodeWeights(values: ArrayLike<number>, dtype: WeightDtype): Uint8Array {
  if (dtype === 'f32') return new Uint8Array(Float32Array.from(values).buffer);
  const out = new Uint16Array(values.length);
  const encode = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = encode(values[i]);
  return new Uint8Array(out.buffer);
}
