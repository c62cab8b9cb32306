/**
 * quant/quantize_rtn.wgsl and quant/dequantize.wgsl against their CPU references (src/engine/reference/quant/
 * quantize.ts): codes and scales bit for bit at every width, from f32 and f16 weights, through a keep-mask, with
 * an all-zero group, exact round-half-to-even ties (scale 1: values k + 0.5), and f16-subnormal scales; then the
 * upload path (dequantize + encode into the model dtype) equals the reference values rounded to that dtype.
 */
import { describe, expect, it } from 'vitest';
import { roundToDtype } from '../../src/engine/io/dtype-encoding.ts';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { encodeWeights, decodeWeights } from '../../src/engine/prune/packing.ts';
import { QUANT_BITS, maxCode, zeroPoint, type QuantBits } from '../../src/engine/quantize/quantized-matrix.ts';
import { dequantizeReference, quantizeRtnReference } from '../../src/engine/reference/quant/quantize.ts';
import { createRng } from '../../src/engine/random.ts';
import { recordDequantize } from '../../src/gpu/kernels/quant/dequantize.ts';
import { recordQuantizeRtn } from '../../src/gpu/kernels/quant/quantize_rtn.ts';
import { recordEncodeWeights } from '../../src/gpu/kernels/sparsegpt/encode_weights.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const ROWS = 6;
const COLS = 48;
const GROUP = 16;

/** Weights [ROWS, COLS] with the special groups of the file comment, rounded to `dtype`. */
function testWeights(bits: QuantBits, dtype: WeightDtype): Float32Array {
  const rng = createRng(bits);
  const w = Float32Array.from({ length: ROWS * COLS }, () => rng.normal() * 0.05);
  // Row 0, group 0: all zero. Row 1, group 1: max |w| = maxq / 2 (scale exactly 1) and k + 0.5 ties.
  w.fill(0, 0, GROUP);
  const ties = [maxCode(bits) / 2, -maxCode(bits) / 2, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5];
  ties.forEach((v, k) => (w[COLS + GROUP + k] = Math.max(-maxCode(bits) / 2, Math.min(maxCode(bits) / 2, v))));
  // Row 2, group 2: tiny weights, so the scale is an f16 subnormal.
  for (let c = 2 * GROUP; c < 3 * GROUP; c++) w[2 * COLS + c] = rng.normal() * 1e-6;
  return roundToDtype(w, dtype);
}

function testMask(): { bits: Uint32Array; keep: Uint8Array } {
  const rng = createRng(99);
  const keep = Uint8Array.from({ length: ROWS * COLS }, () => (rng.next() < 0.7 ? 1 : 0));
  const bits = new Uint32Array(Math.ceil(keep.length / 32));
  keep.forEach((k, i) => (bits[i >>> 5] |= k << (i & 31)));
  return { bits, keep };
}

describe('quantization kernels', () => {
  for (const dtype of ['f32', 'f16'] as WeightDtype[]) {
    for (const bits of QUANT_BITS) {
      for (const masked of [false, true]) {
        it(`quantize_rtn ${dtype} ${bits}-bit${masked ? ' masked' : ''}: codes and scales equal the reference`, async () => {
          const ctx = await gpu();
          const w = testWeights(bits, dtype);
          const mask = masked ? testMask() : null;
          const want = quantizeRtnReference(w, ROWS, COLS, bits, GROUP, mask?.keep);
          const { codes, scales } = await withinErrorScopes(ctx, async () => {
            const weights = await ctx.upload('weights', encodeWeights(w, dtype));
            const maskBuffer = mask ? await ctx.upload('mask', mask.bits) : null;
            const codesBuffer = ctx.createBuffer('codes', ROWS * COLS);
            const scalesBuffer = ctx.createBuffer('scales', (ROWS * COLS * 4) / GROUP);
            const rec = ctx.record('quantize');
            recordQuantizeRtn(rec, {
              elements: ROWS * COLS,
              groupSize: GROUP,
              bits,
              weights: { buffer: weights, dtype, elementOffset: 0 },
              mask: maskBuffer ? { buffer: maskBuffer, elementOffset: 0 } : null,
              codes: codesBuffer,
              scales: scalesBuffer,
            });
            await rec.submit();
            const out = { codes: new Uint8Array(await ctx.read(codesBuffer)), scales: await ctx.readF32(scalesBuffer) };
            for (const b of [weights, maskBuffer, codesBuffer, scalesBuffer]) b?.destroy();
            return out;
          });
          expect(Array.from(scales)).toEqual(Array.from(want.scales));
          const bad = [...codes.keys()].filter((i) => codes[i] !== want.codes[i]).slice(0, 5);
          expect(
            bad.map((i) => `[${i}] w ${w[i]} got ${codes[i]} want ${want.codes[i]}`),
            'codes',
          ).toEqual([]);
          // The tie group rounds half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (relative to the zero point).
          if (!masked && bits >= 3)
            expect(Array.from(codes.subarray(COLS + GROUP + 2, COLS + GROUP + 8), (q) => q - zeroPoint(bits))).toEqual([0, 0, 2, -2, 2, -2]);
          // Pruned and zero weights decode to exactly 0.
          const values = dequantizeReference(want);
          w.forEach((v, i) => {
            if (v === 0 || (mask && !mask.keep[i])) expect(values[i]).toBe(0);
          });
        });
      }
    }
  }

  for (const dtype of ['f32', 'f16', 'bf16'] as WeightDtype[]) {
    it(`dequantize + encode into ${dtype}: the reference values rounded to ${dtype}`, async () => {
      const ctx = await gpu();
      // Two matrices of different widths in one buffer, as a mixed-precision stack uploads them.
      const first = quantizeRtnReference(testWeights(4, 'f32'), ROWS, COLS, 4, GROUP);
      const second = quantizeRtnReference(testWeights(8, 'f32'), ROWS, COLS, 8, GROUP);
      const size = ROWS * COLS;
      const codes = new Uint8Array(2 * size);
      codes.set(first.codes);
      codes.set(second.codes, size);
      const scales = new Float32Array((2 * size) / GROUP);
      scales.set(first.scales);
      scales.set(second.scales, size / GROUP);
      const got = await withinErrorScopes(ctx, async () => {
        const codesBuffer = await ctx.upload('codes', codes);
        const scalesBuffer = await ctx.upload('scales', scales);
        const work = ctx.createBuffer('work', 2 * size * 4);
        const out = ctx.createBuffer('out', encodeWeights(new Float32Array(2 * size), dtype).byteLength);
        const rec = ctx.record('dequantize');
        recordDequantize(rec, { codes: codesBuffer, scales: scalesBuffer, work }, { base: 0, count: size }, GROUP, 4);
        recordDequantize(rec, { codes: codesBuffer, scales: scalesBuffer, work }, { base: size, count: size }, GROUP, 8);
        recordEncodeWeights(rec, work, out, dtype, 2 * size, 0);
        await rec.submit();
        const values = decodeWeights(new Uint8Array(await ctx.read(out)), dtype, 2 * size);
        for (const b of [codesBuffer, scalesBuffer, work, out]) b.destroy();
        return values;
      });
      const want = roundToDtype([...dequantizeReference(first), ...dequantizeReference(second)], dtype);
      expect(Array.from(got)).toEqual(Array.from(want));
    });
  }
});
