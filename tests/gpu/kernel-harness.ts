/** Shared inputs for the kernel tolerance tests (tests/gpu/kernel-*.test.ts): seeded data, masks, uploads. */
import type { Rng } from '../../src/engine/random.ts';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { encodeWeights, roundToDtype } from '../../src/engine/io/dtype-encoding.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import type { WeightOperand } from '../../src/gpu/kernels/nn/matmul.ts';
import { maskWords } from '../../src/gpu/weights.ts';

export const DTYPES: WeightDtype[] = ['f32', 'f16', 'bf16'];

export function normals(rng: Rng, count: number, scale = 1): Float32Array {
  return Float32Array.from({ length: count }, () => rng.normal() * scale);
}

/** A keep-mask bitset over `count` elements keeping each with probability `keep`. */
export function randomMask(rng: Rng, count: number, keep = 0.6): Uint32Array {
  const words = new Uint32Array(maskWords(count));
  for (let i = 0; i < count; i++) if (rng.next() < keep) words[i >> 5] |= 1 << (i & 31);
  return words;
}

/** `values` with the elements the mask prunes set to 0 (what the reference computes with). */
export function zeroMasked(values: Float32Array, mask: Uint32Array | null): Float32Array {
  if (!mask) return values;
  return values.map((v, i) => ((mask[i >> 5] >>> (i & 31)) & 1 ? v : 0));
}

/** Weights uploaded in `dtype` and the values the GPU sees (rounded to that dtype, masked). */
export async function uploadWeights(
  ctx: GpuContext,
  values: Float32Array,
  dtype: WeightDtype,
  mask: Uint32Array | null = null,
): Promise<{ operand: WeightOperand; seen: Float32Array; destroy: () => void }> {
  const buffer = await ctx.upload(`weights ${dtype}`, encodeWeights(values, dtype));
  const maskBuffer = mask ? await ctx.upload('mask', mask) : null;
  return {
    operand: { buffer, dtype, mask: maskBuffer },
    seen: zeroMasked(roundToDtype(values, dtype), mask),
    destroy: () => {
      buffer.destroy();
      maskBuffer?.destroy();
    },
  };
}

export const f64 = (values: ArrayLike<number>) => Float64Array.from(values);
