/**
 * Weights in their storage dtype (little-endian bytes as in safetensors, packed two per u32 for f16 / bf16, see
 * shaders/common/weights.wgsl), padded to whole u32 words for upload, and back. Encoding rounds to nearest, ties
 * to even, as torch's .to(float16 / bfloat16) does (the bit encoders of src/engine/io/dtype-encoding.ts); decoding
 * is exact. Used to run the pruning paths on f16 / bf16 copies of f32 matrices.
 */
import { f16ToF32 } from '../io/safetensors.ts';
import type { WeightDtype } from '../model/spec.ts';
import { encodeWeights as encodeStored, f32ToBf16Bits, f32ToF16Bits } from '../io/dtype-encoding.ts';
import { bitsToFloat } from './scores.ts';

export { f32ToBf16Bits, f32ToF16Bits };

/** Values rounded to `dtype` and stored as its little-endian bytes (length padded to whole u32 words). */
export function encodeWeights(values: Float32Array, dtype: WeightDtype): Uint8Array {
  const stored = encodeStored(values, dtype);
  if (stored.length % 4 === 0) return stored;
  const padded = new Uint8Array(stored.length + 2); // an odd count of 16-bit values: one zero half to a whole word
  padded.set(stored);
  return padded;
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
