/**
 * Pruning building blocks without a GPU: settings and their errors, score keys (flush, non-finite, rounding),
 * the random hash, column factors, f16 / bf16 packing, mask bitsets, and the constants the WGSL repeats.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { f16ToF32 } from '../../src/engine/io/safetensors.ts';
import { achievedSparsity, allKeptMask, countKept, isKept, markPruned } from '../../src/engine/model/keep-mask.ts';
import { decodeWeights, encodeWeights, f32ToBf16Bits, f32ToF16Bits } from '../../src/engine/prune/packing.ts';
import {
  bitsToFloat,
  columnFactors,
  floatBits,
  randomKey,
  randomStreamKey,
  SCORE_INFINITY_BITS,
  SCORE_TINY_BITS,
  scoreKey,
} from '../../src/engine/prune/scores.ts';
import { checkSettings, parsePattern, prunedPerGroup, PruneRequestError, UNSTRUCTURED, type PruneSettings } from '../../src/engine/prune/settings.ts';
import { GROUP_CHUNK_ELEMENTS, RADIX_BINS, RADIX_PASSES } from '../../src/gpu/kernels/prune/score.ts';
import { LANE_ROW_MAX_COLS, LANE_ROWS, ROW_SELECT_WORDS, rowSelectShape } from '../../src/gpu/kernels/prune/row_select.ts';

const settings: PruneSettings = { method: 'wanda', pattern: UNSTRUCTURED, group: 'row', sparsity: 0.5, seed: 0 };

describe('pruning settings', () => {
  it('parses N:M patterns and refuses impossible ones', () => {
    expect(parsePattern('2:4')).toEqual({ kind: 'n:m', n: 2, m: 4 });
    expect(parsePattern('unstructured')).toEqual(UNSTRUCTURED);
    expect(() => parsePattern('4:4')).toThrow(/4:4 needs integers 1 <= N < M <= 16/);
    expect(() => parsePattern('2:32')).toThrow(PruneRequestError);
    expect(() => parsePattern('half')).toThrow(/"half" is neither 'unstructured' nor N:M/);
  });

  it('names the bad value', () => {
    expect(() => checkSettings({ ...settings, sparsity: 0.96 })).toThrow(/sparsity 0.96 is outside 0..0.95/);
    expect(() => checkSettings({ ...settings, pattern: parsePattern('2:4'), group: 'layer' })).toThrow(/group must be 'row' \(got 'layer'\)/);
    expect(() => checkSettings({ ...settings, method: 'sparsegpt' as never })).toThrow(/unknown pruning method "sparsegpt"/);
    expect(() => checkSettings({ ...settings, seed: -1 })).toThrow(/seed -1 is not a u32/);
  });

  it('prunes floor(n * s) in double precision, as Wanda int(cols * ratio)', () => {
    expect(prunedPerGroup(100, 0.29)).toBe(28); // 100 * 0.29 = 28.999999999999996 in IEEE double
    expect(prunedPerGroup(4096, 0.5)).toBe(2048);
    expect(prunedPerGroup(70, 0.1)).toBe(7);
    expect(prunedPerGroup(64, 0)).toBe(0);
  });
});

describe('score keys', () => {
  it('orders like the scores they encode', () => {
    const values = [0, 1e-30, 0.001, 0.5, 1, 1.5, 3e38];
    const keys = values.map((v) => scoreKey('magnitude', -v, 1, 0, 0));
    expect([...keys].sort((a, b) => a - b)).toEqual(keys);
  });

  it('flushes magnitudes and products at or below the smallest normal f32 to 0', () => {
    expect(scoreKey('magnitude', 1e-40, 1, 0, 0)).toBe(0);
    expect(scoreKey('magnitude', bitsToFloat(SCORE_TINY_BITS), 1, 0, 0)).toBe(0);
    expect(scoreKey('magnitude', bitsToFloat(SCORE_TINY_BITS + 1), 1, 0, 0)).toBe(SCORE_TINY_BITS + 1);
    expect(scoreKey('wanda', 1e-20, 1e-19, 0, 0)).toBe(0); // 1e-39 is subnormal
    expect(scoreKey('wanda', 1e-20, 1e-17, 0, 0)).toBe(floatBits(Math.fround(Math.fround(1e-20) * Math.fround(1e-17))));
  });

  it('scores inf, NaN and overflowing products as +inf', () => {
    for (const w of [NaN, Infinity, -Infinity]) expect(scoreKey('wanda', w, 0, 0, 0)).toBe(SCORE_INFINITY_BITS);
    expect(scoreKey('wanda', 1e30, 1e19, 0, 0)).toBe(SCORE_INFINITY_BITS);
    expect(scoreKey('magnitude', -3e38, 0, 0, 0)).toBe(floatBits(3e38));
  });

  it('rounds |w| * c once to f32', () => {
    const w = Math.fround(0.1);
    const c = Math.fround(Math.sqrt(3));
    expect(bitsToFloat(scoreKey('wanda', -w, c, 0, 0))).toBe(Math.fround(w * c));
  });

  it('draws random keys without ties in a matrix, by seed and stream', () => {
    const stream = randomStreamKey(5, 0);
    const keys = new Set(Array.from({ length: 100_000 }, (_, i) => randomKey(stream, i)));
    expect(keys.size).toBe(100_000);
    expect(randomStreamKey(5, 1)).not.toBe(stream);
    expect(randomStreamKey(6, 0)).not.toBe(stream);
    expect(scoreKey('random', 1, 1, 17, stream)).toBe(randomKey(stream, 17));
    // Roughly uniform: the top bit is set about half the time.
    const high = [...keys].filter((k) => k >= 2 ** 31).length;
    expect(high / keys.size).toBeGreaterThan(0.49);
    expect(high / keys.size).toBeLessThan(0.51);
  });
});

describe('column factors', () => {
  it('is the correctly rounded f32 square root of each statistic', () => {
    const statistic = Float32Array.from([0, 1, 2, 3, 1e-30, 12345.678, 3e38, 0.01]);
    const factors = columnFactors(statistic, 's');
    statistic.forEach((s, j) => {
      const c = factors[j];
      // No neighbouring f32 is closer to sqrt(s) (checked in double: |x^2 - s| grows away from sqrt(s)).
      const below = bitsToFloat(floatBits(c) - 1);
      const above = bitsToFloat(floatBits(c) + 1);
      const error = (x: number) => Math.abs(x - Math.sqrt(s));
      if (c > 0) expect(error(c)).toBeLessThanOrEqual(Math.min(error(below), error(above)));
    });
    expect(factors[0]).toBe(0);
    expect(factors[1]).toBe(1);
  });

  it('flushes tiny factors and refuses negative or non-finite statistics, naming the column', () => {
    expect(columnFactors(Float32Array.from([1e-80]), 's')[0]).toBe(0);
    expect(() => columnFactors(Float32Array.from([1, -1]), 'layers.0.experts.2.input_sqnorm')).toThrow(/layers\.0\.experts\.2\.input_sqnorm\[1\] = -1/);
    expect(() => columnFactors(Float32Array.from([NaN]), 's')).toThrow(/s\[0\] = NaN/);
    expect(() => columnFactors(Float32Array.from([Infinity]), 's')).toThrow(PruneRequestError);
  });
});

describe('f16 / bf16 packing', () => {
  it('round-trips every finite f16 and rounds halfway cases to even', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue; // NaN
      const back = f32ToF16Bits(f16ToF32(h));
      if (back !== h) throw new Error(`f16 0x${h.toString(16)} -> ${f16ToF32(h)} -> 0x${back.toString(16)}`);
    }
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1 + 2^-10: even is 1
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(2 ** -25)).toBe(0); // halfway to the smallest subnormal: even is 0
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(1);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up past the largest f16
    expect(f32ToF16Bits(NaN) & 0x7fff).toBeGreaterThan(0x7c00);
  });

  it('rounds bf16 to nearest even and decodes exactly', () => {
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    const values = Float32Array.from([0, -0.5, 1e-40, 3.14159, -65504, 1e38]);
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      const bytes = encodeWeights(values, dtype);
      const decoded = decodeWeights(bytes, dtype, values.length);
      // Re-encoding the decoded values gives the same bytes: decoding is exact.
      expect(Array.from(encodeWeights(decoded, dtype))).toEqual(Array.from(bytes));
    }
    expect(encodeWeights(Float32Array.from([1, 2, 3]), 'f16').byteLength).toBe(8); // padded to whole words
  });
});

describe('mask bitsets', () => {
  it('counts kept bits, ignoring bits past the last element', () => {
    const mask = allKeptMask(70);
    expect(mask.length).toBe(3);
    expect(mask[2]).toBe(0b111111);
    expect(countKept(mask, 70)).toBe(70);
    markPruned(mask, 0);
    markPruned(mask, 69);
    expect(isKept(mask, 0)).toBe(false);
    expect(isKept(mask, 1)).toBe(true);
    expect(countKept(Uint32Array.from([0, 0xffffffff, 0xffffffff, 0xffffffff]), 40, 1)).toBe(40);
    expect(achievedSparsity(mask, 70)).toBeCloseTo(2 / 70, 12);
  });
});

describe('constants the WGSL repeats', () => {
  const wgsl = (name: string) => readFileSync(new URL(`../../shaders/prune/${name}`, import.meta.url), 'utf8');

  it('agree between the shaders and the hosts', () => {
    for (const file of ['group_histogram.wgsl', 'group_tie_count.wgsl']) {
      expect(wgsl(file)).toContain(`const CHUNK_ELEMENTS: u32 = ${GROUP_CHUNK_ELEMENTS}u;`);
    }
    // group_mask.wgsl writes 256 words (= 8192 elements) per chunk with the default SELECT_THREADS.
    expect(wgsl('radix.wgsl')).toContain('override SELECT_THREADS: u32 = 256u;');
    expect(GROUP_CHUNK_ELEMENTS).toBe(256 * 32);
    expect(wgsl('radix.wgsl')).toContain(`const RADIX_PASSES: u32 = ${RADIX_PASSES}u;`);
    expect(wgsl('radix.wgsl')).toContain(`const RADIX_BINS: u32 = ${RADIX_BINS}u;`);
    const score = wgsl('score.wgsl');
    expect(score).toContain(`SCORE_TINY_BITS: u32 = 0x${SCORE_TINY_BITS.toString(16).padStart(8, '0')}u;`);
    expect(score).toContain(`SCORE_INFINITY_BITS: u32 = 0x${SCORE_INFINITY_BITS.toString(16)}u;`);
  });

  it('sizes row workgroups to the row: a row per invocation up to 128 columns, keys in registers up to 16384 (GPU) or 32768 (CPU driver) whole-word columns, streaming beyond', () => {
    const widths = [16, 64, 128, 129, 600, 1024, 2048, 4096, 14336, 16352, 16384, 20000, 32768, 32769];
    const gpuShapes = widths.map((c) => rowSelectShape(c, ROW_SELECT_WORDS.gpu));
    expect(gpuShapes.map((s) => s.threads)).toEqual([64, 64, 64, 32, 32, 32, 32, 64, 256, 256, 256, 256, 256, 256]);
    const lanes = ['lane-rows', 'lane-rows', 'lane-rows'] as const;
    expect(gpuShapes.map((s) => s.way)).toEqual([...lanes, ...Array(8).fill('registers'), ...Array(3).fill('streaming')]);
    const softwareShapes = widths.map((c) => rowSelectShape(c, ROW_SELECT_WORDS.software));
    expect(softwareShapes.map((s) => s.threads)).toEqual([64, 64, 64, 32, 32, 32, 32, 32, 128, 128, 128, 256, 256, 256]);
    expect(softwareShapes.map((s) => s.way)).toEqual([...lanes, ...Array(10).fill('registers'), 'streaming']);
    expect(wgsl('row_select.wgsl')).toContain(`const LANE_ROWS: u32 = ${LANE_ROWS}u;`);
    expect(wgsl('row_select.wgsl')).toContain(`const LANE_ROW_MAX_COLS: u32 = ${LANE_ROW_MAX_COLS}u;`);
    // ROW_WORDS comes from the host (a const per kernel, ROW_SELECT_WORDS), never from the file; the tie scan takes
    // word slots in pairs.
    expect(wgsl('row_select.wgsl')).not.toMatch(/^\s*(const|override) ROW_WORDS\b/m);
    for (const words of Object.values(ROW_SELECT_WORDS)) expect(words % 2).toBe(0);
  });
});
