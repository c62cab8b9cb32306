/**
 * encode_weights.wgsl (SparseGPT's updated weights into the checkpoint dtype) bit for bit against the CPU packing
 * (src/engine/prune/packing.ts, torch's round-to-nearest-even): values of every magnitude, exact halfway cases,
 * f16 subnormals and overflow, NaN, signed zeros; a range starting and ending mid-word, whose neighbours in the
 * same words must keep their bits.
 */
import { describe, expect, it } from 'vitest';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { encodeWeights } from '../../src/engine/prune/packing.ts';
import { createRng } from '../../src/engine/random.ts';
import { recordEncodeWeights } from '../../src/gpu/kernels/sparsegpt/encode_weights.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

function testValues(): Float32Array {
  const rng = createRng(5);
  const special = [
    0,
    -0,
    1,
    -1,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    1 + 2 ** -8,
    1 + 3 * 2 ** -8,
    65504,
    65520,
    70000,
    -70000,
    2 ** -24,
    2 ** -25,
    3 * 2 ** -26,
    6e-8,
    3e-5,
    -3e-5,
    1e-40,
    Infinity,
    -Infinity,
    NaN,
    3.4e38,
  ];
  const random = Array.from({ length: 997 }, () => rng.normal() * 10 ** (rng.int(14) - 8));
  return Float32Array.from([...special, ...random]);
}

describe('SparseGPT weight encoding', () => {
  for (const dtype of ['f32', 'f16', 'bf16'] as WeightDtype[]) {
    it(`${dtype}: equals the CPU packing, neighbours in shared words untouched`, async () => {
      const ctx = await gpu();
      const values = testValues();
      const outBase = 3; // mid-word for f16 / bf16
      const total = outBase + values.length + 2; // values.length is odd: the last word is shared too
      const background = Float32Array.from({ length: total }, (_, i) => 1000 + i);
      const expected = background.slice();
      expected.set(values, outBase);
      const got = await withinErrorScopes(ctx, async () => {
        const work = await ctx.upload('work', values);
        const out = await ctx.upload('out', encodeWeights(background, dtype));
        const rec = ctx.record('encode');
        recordEncodeWeights(rec, work, out, dtype, values.length, outBase);
        await rec.submit();
        const bytes = new Uint8Array(await ctx.read(out));
        work.destroy();
        out.destroy();
        return bytes;
      });
      const want = encodeWeights(expected, dtype);
      const bad: string[] = [];
      const width = dtype === 'f32' ? 4 : 2;
      for (let i = 0; i < total && bad.length < 5; i++) {
        const g = got.subarray(i * width, (i + 1) * width).join(',');
        const w = want.subarray(i * width, (i + 1) * width).join(',');
        if (g !== w) bad.push(`[${i}] value ${expected[i]}: got bytes ${g}, expected ${w}`);
      }
      expect(bad, bad.join('\n')).toEqual([]);
    });
  }
});
