/** Host side of shaders/common/weights.wgsl: the WEIGHT_DTYPE override and word counts for packed weights. */
import type { WeightDtype } from '../engine/model/spec.ts';
import weightsWgsl from '../../shaders/common/weights.wgsl';

export const WEIGHTS_WGSL = weightsWgsl;

/** Value of the `WEIGHT_DTYPE` override constant. */
export const WEIGHT_DTYPE_CODE: Record<WeightDtype, number> = { f32: 0, f16: 1, bf16: 2 };

/** Bytes one element takes in storage. */
export const WEIGHT_BYTES: Record<WeightDtype, number> = { f32: 4, f16: 2, bf16: 2 };

/** Bytes of a weight buffer of `count` elements, padded to whole u32 words. */
export function weightBufferBytes(dtype: WeightDtype, count: number): number {
  return Math.ceil((count * WEIGHT_BYTES[dtype]) / 4) * 4;
}

/** Words of a keep-mask bitset over `count` elements. */
export function maskWords(count: number): number {
  return Math.ceil(count / 32);
}
