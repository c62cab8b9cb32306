/**
 * GPU pruning masks == CPU reference, bit for bit, on matrices built to break selection: ties everywhere,
 * all-equal rows, zeros, subnormals, NaN / inf, overflowing products, zero statistics, rows that do not fill
 * whole mask words, rows longer than one workgroup block, one-column matrices, and a layer group mixing dtypes; the
 * narrow cases both ways row_select runs them (a row per invocation, and widened: a workgroup per row).
 */
import { describe, expect, it } from 'vitest';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { createRng, type Rng } from '../../src/engine/random.ts';
import { parsePattern, MASK_METHODS, UNSTRUCTURED, type PruneGroup, type PruneSettings } from '../../src/engine/prune/settings.ts';
import { countKept } from '../../src/engine/model/keep-mask.ts';
import { encodeWeights } from '../../src/engine/prune/packing.ts';
import { columnFactors } from '../../src/engine/prune/scores.ts';
import { LANE_ROW_MAX_COLS, ROW_SELECT_WORDS } from '../../src/gpu/kernels/prune/row_select.ts';
import { NM_ROWS_PER_INVOCATION } from '../../src/gpu/kernels/prune/nm_select.ts';
import { vec4LoadsAllowed } from '../../src/gpu/kernels/prune/score.ts';
import { computeMasks, countKeptOnGpu, readMask } from '../../src/gpu/prune/compute-masks.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { bothMasks, expectSameMasks, type PruneCase } from './prune-helpers.ts';

function matrix(label: string, rows: number, cols: number, value: (row: number, col: number) => number, dtype: WeightDtype = 'f32'): PruneCase {
  const values = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c] = value(r, c);
  return { label, rows, cols, dtype, values, statistic: new Float32Array(cols).fill(1) };
}

function withStatistic(c: PruneCase, statistic: (col: number) => number): PruneCase {
  return { ...c, statistic: Float32Array.from({ length: c.cols }, (_, j) => statistic(j)) };
}

/** Values from a small set (many ties), signs mixed. */
function coarse(rng: Rng): number {
  return [0, 0.5, -0.5, 1, -1, 2, -2, 0.25][rng.int(8)];
}

/**
 * A case's columns repeated up to `cols` (ties, subnormals and non-finite values kept): narrow rows run row_select
 * one row per invocation (up to LANE_ROW_MAX_COLS columns), wider ones a workgroup per row.
 */
function widened(c: PruneCase, cols: number): PruneCase {
  const values = Float32Array.from({ length: c.rows * cols }, (_, i) => c.values[Math.floor(i / cols) * c.cols + ((i % cols) % c.cols)]);
  const statistic = Float32Array.from({ length: cols }, (_, j) => c.statistic[j % c.cols]);
  return { ...c, label: `${c.label} widened to ${cols}`, cols, values, statistic };
}

/** The narrow cases again with rows wider than LANE_ROW_MAX_COLS, at widths that are not multiples of 32. */
function adversarialCases(): PruneCase[] {
  const narrow = narrowCases();
  return [...narrow, ...narrow.filter((c) => c.cols <= LANE_ROW_MAX_COLS).map((c) => widened(c, c.cols + LANE_ROW_MAX_COLS + 3))];
}

function narrowCases(): PruneCase[] {
  const rng = createRng(7);
  const f16Subnormal = 2 ** -24;
  return [
    withStatistic(
      matrix('normal 5x70', 5, 70, () => rng.normal()),
      () => rng.next() * 4,
    ),
    withStatistic(
      matrix('coarse 7x64', 7, 64, () => coarse(rng)),
      (j) => [0, 1, 4, 0.25][j % 4],
    ),
    matrix('all-equal rows 4x37', 4, 37, (r) => [1, 0, -3, 1e-3][r]),
    matrix('mostly zero 6x33', 6, 33, (r, c) => ((r * 33 + c) % 11 === 0 ? rng.normal() : 0)),
    withStatistic(
      matrix('subnormal 3x40', 3, 40, (_, c) => [1e-40, -3e-39, 1.1754942e-38, 1.1754944e-38, 1e-20, 2e-20, 0, -0][c % 8]),
      (j) => [1, 1e-38, 1e-39, 1e-2][j % 4],
    ),
    withStatistic(
      matrix('non-finite 4x20', 4, 20, (_, c) => [NaN, Infinity, -Infinity, 1, 0, 1e30, -1e30, 3][c % 8]),
      (j) => [1, 1e38, 0, 4][j % 4],
    ),
    withStatistic(
      matrix('long row 1x20000', 1, 20000, () => coarse(rng) * (1 + rng.int(3))),
      () => 1 + rng.int(3),
    ),
    withStatistic(
      matrix('long rows 3x9000', 3, 9000, () => rng.normal()),
      () => rng.next(),
    ),
    matrix('one column 33x1', 33, 1, () => coarse(rng)),
    withStatistic(
      matrix('f16 subnormals 4x48', 4, 48, (_, c) => f16Subnormal * ((c * 7) % 13) * (c % 2 ? -1 : 1) + (c % 5 === 0 ? 0.5 : 0), 'f16'),
      (j) => (j % 3) + 0.5,
    ),
    withStatistic(
      matrix('bf16 coarse 5x96', 5, 96, () => rng.normal(), 'bf16'),
      (j) => [1, 4, 9][j % 3],
    ),
  ];
}

/** N:M needs cols divisible by M (16 covers every pattern tested; 40 and 80 for 3:5). */
function nmCases(): PruneCase[] {
  const rng = createRng(11);
  return [
    withStatistic(
      matrix('nm normal 6x96', 6, 96, () => rng.normal()),
      () => rng.next(),
    ),
    withStatistic(
      matrix('nm coarse 5x48', 5, 48, () => coarse(rng), 'bf16'),
      (j) => [0, 1, 4][j % 3],
    ),
    matrix('nm all equal 3x32', 3, 32, () => 0.5, 'f16'),
    withStatistic(
      matrix('nm non-finite 2x80', 2, 80, (_, c) => [NaN, 1, Infinity, 0, -1e-40, 2, 2, 2][c % 8]),
      (j) => [1, 0][j % 2],
    ),
  ];
}

/**
 * Whole-row mask words (cols a multiple of 32) for score.wgsl's 16-byte views (run with matrices on 256-byte
 * boundaries; only a workgroup per row reads them, so rows wider than LANE_ROW_MAX_COLS): the adversarial cases of
 * every dtype, their columns repeated up to a multiple of 32 past that width (ties, subnormals, NaN / inf and
 * overflowing products through the vector loads), rows of 4096 columns as real experts have, and more rows than
 * one N:M invocation ranks (NM_ROWS_PER_INVOCATION), not a multiple of it.
 */
function vec4Cases(): PruneCase[] {
  const wide = narrowCases()
    .filter((c) => c.rows > 1 && c.cols > 1 && c.cols < 128)
    .map((c) => widened(c, Math.ceil(c.cols / 32) * 32 + LANE_ROW_MAX_COLS));
  const rng = createRng(13);
  return [
    ...wide,
    withStatistic(
      matrix('rows 2x4096', 2, 4096, () => rng.normal(), 'f16'),
      () => rng.next(),
    ),
    withStatistic(
      matrix(`coarse ${2 * NM_ROWS_PER_INVOCATION + 3}x160`, 2 * NM_ROWS_PER_INVOCATION + 3, 160, () => coarse(rng)),
      (j) => [0, 1, 4][j % 3],
    ),
  ];
}

const base = { seed: 1234 } as const;

describe('GPU pruning masks on adversarial matrices', () => {
  const groups: PruneGroup[] = ['row', 'matrix', 'layer'];
  for (const method of MASK_METHODS) {
    it(`${method}: unstructured, every group and sparsity, bit-identical to the CPU reference`, async () => {
      const ctx = await gpu();
      const cases = adversarialCases().map((c, i) => ({ ...c, layerGroup: i % 3 }));
      let boundaryTies = 0;
      await withinErrorScopes(ctx, async () => {
        for (const group of groups) {
          for (const sparsity of [0, 0.1, 0.3, 0.5, 0.77, 0.95]) {
            const settings: PruneSettings = { ...base, method, pattern: UNSTRUCTURED, group, sparsity };
            const both = await bothMasks(ctx, settings, cases);
            expectSameMasks(settings, cases, both);
            boundaryTies += both.reference.boundaryTies;
          }
        }
      });
      // The cases exist to make ties decide: make sure they did (random has no ties within a matrix).
      if (method !== 'random') expect(boundaryTies).toBeGreaterThan(50);
    });

    it(`${method}: N:M patterns, bit-identical to the CPU reference`, async () => {
      const ctx = await gpu();
      const cases = nmCases();
      await withinErrorScopes(ctx, async () => {
        for (const pattern of ['2:4', '4:8', '3:8', '1:2', '3:5', '15:16', '1:16']) {
          const settings: PruneSettings = { ...base, method, pattern: parsePattern(pattern), group: 'row', sparsity: 0 };
          const usable = cases.filter((c) => c.cols % (settings.pattern.kind === 'n:m' ? settings.pattern.m : 1) === 0);
          expectSameMasks(settings, usable, await bothMasks(ctx, settings, usable));
        }
      });
    });
  }

  it('reads aligned matrices 16 bytes at a time (row groups and N:M) with the same masks', async () => {
    const ctx = await gpu();
    const cases = vec4Cases();
    // 64-element boundaries: each matrix's weight base in its binding is a multiple of 64 elements.
    for (const c of cases) expect(vec4LoadsAllowed('wanda', c.dtype, c.cols, 64)).toBe(true);
    let boundaryTies = 0;
    await withinErrorScopes(ctx, async () => {
      for (const method of ['magnitude', 'wanda', 'moe-pruner'] as const) {
        for (const sparsity of [0.1, 0.5, 0.77]) {
          const settings: PruneSettings = { ...base, method, pattern: UNSTRUCTURED, group: 'row', sparsity };
          const both = await bothMasks(ctx, settings, cases, 64);
          expectSameMasks(settings, cases, both);
          boundaryTies += both.reference.boundaryTies;
        }
        for (const pattern of ['2:4', '4:8', '1:2', '3:8', '15:16', '1:16']) {
          const settings: PruneSettings = { ...base, method, pattern: parsePattern(pattern), group: 'row', sparsity: 0 };
          expectSameMasks(settings, cases, await bothMasks(ctx, settings, cases, 64));
        }
      }
    });
    expect(boundaryTies).toBeGreaterThan(20);
  });

  it('gives the same row masks with the register layout of the other kind of device (ROW_SELECT_WORDS)', async () => {
    const ctx = await gpu();
    // Every test above runs this device's layout (64 keys per invocation on a GPU, 128 on a CPU driver); this runs
    // the other one, on the unaligned cases (rows of 20000 columns stream with 64) and the aligned ones.
    const rowWords = ctx.caps.isSoftware ? ROW_SELECT_WORDS.gpu : ROW_SELECT_WORDS.software;
    // Without bf16, which only decodes differently: each dtype and workgroup size is a pipeline to build.
    const unaligned = adversarialCases().filter((c) => c.dtype !== 'bf16');
    const aligned = vec4Cases().filter((c) => c.dtype !== 'bf16');
    let boundaryTies = 0;
    await withinErrorScopes(ctx, async () => {
      // One method: the layout changes how keys are held, searched and written, not how they are scored (wanda's
      // cases hold ties, zero and infinite factors).
      const runs = [
        [unaligned, 1],
        [aligned, 64],
      ] as const;
      for (const sparsity of [0.1, 0.5, 0.95]) {
        const settings: PruneSettings = { ...base, method: 'wanda', pattern: UNSTRUCTURED, group: 'row', sparsity };
        for (const [cases, align] of runs) {
          const both = await bothMasks(ctx, settings, cases, align, { rowWords });
          expectSameMasks(settings, cases, both);
          boundaryTies += both.reference.boundaryTies;
        }
      }
    });
    expect(boundaryTies).toBeGreaterThan(50);
  });

  it('gives the random method a different draw for another seed and the same for the same seed', async () => {
    const ctx = await gpu();
    const cases = [matrix('random 8x64', 8, 64, () => 1)];
    const run = (seed: number) => bothMasks(ctx, { method: 'random', pattern: UNSTRUCTURED, group: 'row', sparsity: 0.5, seed }, cases);
    const [a, b, c] = [await run(1), await run(1), await run(2)];
    expect(Array.from(a.gpu[0])).toEqual(Array.from(b.gpu[0]));
    expect(Array.from(a.gpu[0])).not.toEqual(Array.from(c.gpu[0]));
  });

  it('writes into masks of its own when none are given, and counts kept weights on the GPU as the CPU does', async () => {
    const ctx = await gpu();
    const cases = adversarialCases().filter((c) => c.dtype === 'f32');
    await withinErrorScopes(ctx, async () => {
      const created: GPUBuffer[] = [];
      const upload = async (label: string, data: ArrayBufferView) => {
        const buffer = await ctx.upload(label, data);
        created.push(buffer);
        return buffer;
      };
      const matrices = [];
      for (const c of cases) {
        matrices.push({
          ...c,
          weights: await upload(c.label, encodeWeights(c.values, 'f32')),
          columnFactors: await upload(c.label, columnFactors(c.statistic, c.label)),
        });
      }
      const settings: PruneSettings = { ...base, method: 'wanda', pattern: UNSTRUCTURED, group: 'matrix', sparsity: 0.3 };
      const slots = await computeMasks(ctx, settings, matrices);
      const kept = await countKeptOnGpu(ctx, slots);
      for (const [i, slot] of slots.entries()) {
        expect(slot.created).toBe(true);
        expect(kept[i]).toBe(countKept(await readMask(ctx, slot), slot.elements));
        expect(kept[i]).toBe(slot.elements - Math.floor(slot.elements * 0.3));
        slot.buffer.destroy();
      }
      for (const b of created) b.destroy();
    });
  });

  it('rejects requests it cannot run, naming the matrix and the value', async () => {
    const ctx = await gpu();
    const weights = ctx.createBuffer('w', 64 * 4);
    const shape = { label: 'layers.0.experts.1.up', rows: 4, cols: 10, weights, dtype: 'f32' as const, columnFactors: null };
    const settings: PruneSettings = { ...base, method: 'magnitude', pattern: UNSTRUCTURED, group: 'row', sparsity: 0.5 };
    await expect(computeMasks(ctx, { ...settings, method: 'wanda' }, [shape])).rejects.toThrow(/layers\.0\.experts\.1\.up: wanda needs column factors/);
    await expect(computeMasks(ctx, { ...settings, pattern: parsePattern('2:4') }, [shape])).rejects.toThrow(/10 columns are not a multiple of the N:M block 4/);
    await expect(computeMasks(ctx, { ...settings, sparsity: 0.99 }, [shape])).rejects.toThrow(/sparsity 0.99 is outside/);
    await expect(computeMasks(ctx, settings, [{ ...shape, rows: 7 }])).rejects.toThrow(/needs bytes up to 280 of buffer 'w', which has 256/);
    weights.destroy();
  });
});
