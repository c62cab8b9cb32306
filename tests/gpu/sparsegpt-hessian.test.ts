/**
 * SparseGPT's Hessian sums (shaders/sparsegpt/hessian_accumulate.wgsl) against f64 sums on seeded data: expert
 * segments of uneven length (one empty) read through the forward's sorted rows from [T, H] token rows, and rows
 * already in gathered order; widths that are not multiples of the 32-wide tiles; two batches into one total.
 * Then the HessianAccumulator at the calibration's MoE tap on every fixture (shared expert included) against the
 * f64 model reference's sums, in batches of two shapes.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { sparseGptModelReference } from '../../src/engine/reference/sparsegpt-model.ts';
import { UNSTRUCTURED } from '../../src/engine/prune/settings.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { recordHessianAccumulate } from '../../src/gpu/kernels/sparsegpt/hessian_accumulate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { HessianAccumulator, type HessianSlab } from '../../src/gpu/sparsegpt/hessians.ts';
import { FIXTURES, openFixture } from '../helpers/fixtures.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const rng = createRng(77);

/** Tokens routed to K distinct experts of E (never expert `unused`), grouped by expert as the forward's dispatch does. */
function gatheredRows(T: number, K: number, E: number, unused: number) {
  const ids: number[][] = [];
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    while (chosen.size < K) {
      const e = rng.int(E);
      if (e !== unused) chosen.add(e);
    }
    ids.push([...chosen]);
  }
  const offsets = new Uint32Array(E + 1);
  const rowSlot: number[] = [];
  for (let e = 0; e < E; e++) {
    for (let t = 0; t < T; t++) ids[t].forEach((id, k) => id === e && rowSlot.push(t * K + k));
    offsets[e + 1] = rowSlot.length;
  }
  return { offsets, rowSlot: Uint32Array.from(rowSlot) };
}

/** f64 sum of x x^T over the rows of each segment. */
function referenceSums(rowOf: (r: number) => Float32Array, offsets: Uint32Array, C: number): Float64Array {
  const E = offsets.length - 1;
  const S = new Float64Array(E * C * C);
  for (let e = 0; e < E; e++) {
    for (let r = offsets[e]; r < offsets[e + 1]; r++) {
      const x = rowOf(r);
      for (let i = 0; i < C; i++) for (let j = 0; j < C; j++) S[(e * C + i) * C + j] += x[i] * x[j];
    }
  }
  return S;
}

describe('SparseGPT Hessian accumulation', () => {
  it('sums x x^T per expert over gathered token rows and over rows in gathered order, across two batches', async () => {
    const ctx = await gpu();
    const [T, K, E, H, I] = [300, 2, 5, 40, 70];
    const batches = [0, 1].map(() => {
      const tokens = Float32Array.from({ length: T * H }, () => rng.normal());
      const routing = gatheredRows(T, K, E, 3);
      const inter = Float32Array.from({ length: T * K * I }, () => rng.normal());
      return { tokens, inter, ...routing };
    });
    const { inputSums, interSums } = await withinErrorScopes(ctx, async () => {
      const inputTotals = ctx.createBuffer('S input', (1 + E * H * H) * 4);
      const interTotals = ctx.createBuffer('S inter', E * I * I * 4);
      const created: GPUBuffer[] = [inputTotals, interTotals];
      const rec = ctx.record('hessians');
      rec.clear(inputTotals);
      rec.clear(interTotals);
      for (const b of batches) {
        const rows = await ctx.upload('tokens', b.tokens);
        const inter = await ctx.upload('inter', b.inter);
        const offsets = await ctx.upload('offsets', b.offsets);
        const rowSlot = await ctx.upload('row slot', b.rowSlot);
        created.push(rows, inter, offsets, rowSlot);
        // Experts 1..4 only in the first dispatch pair, expert 0 in a second: first_segment is honoured.
        recordHessianAccumulate(rec, {
          rows,
          width: H,
          rowSlot: { buffer: rowSlot, topK: K },
          offsets,
          firstSegment: 1,
          segments: E - 1,
          totals: inputTotals,
          totalBase: 1 + H * H,
        });
        recordHessianAccumulate(rec, { rows, width: H, rowSlot: { buffer: rowSlot, topK: K }, offsets, segments: 1, totals: inputTotals, totalBase: 1 });
        recordHessianAccumulate(rec, { rows: inter, width: I, offsets, segments: E, totals: interTotals });
      }
      await rec.submit();
      const result = { inputSums: (await ctx.readF32(inputTotals)).slice(1), interSums: await ctx.readF32(interTotals) };
      for (const buffer of created) buffer.destroy();
      return result;
    });
    const refInput = new Float64Array(E * H * H);
    const refInter = new Float64Array(E * I * I);
    for (const b of batches) {
      referenceSums((r) => b.tokens.subarray(Math.floor(b.rowSlot[r] / K) * H, (Math.floor(b.rowSlot[r] / K) + 1) * H), b.offsets, H).forEach(
        (v, i) => (refInput[i] += v),
      );
      referenceSums((r) => b.inter.subarray(r * I, (r + 1) * I), b.offsets, I).forEach((v, i) => (refInter[i] += v));
    }
    expectClose(inputSums, refInput, { atol: 1e-3, rtol: 1e-5, label: 'input sums' });
    expectClose(interSums, refInter, { atol: 1e-3, rtol: 1e-5, label: 'intermediate sums' });
    // The unused expert's sums are exactly 0; every S is exactly symmetric.
    expect(inputSums.subarray(3 * H * H, 4 * H * H).every((v) => v === 0)).toBe(true);
    for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) expect(inputSums[i * H + j]).toBe(inputSums[j * H + i]);
  });

  for (const name of FIXTURES) {
    it(`${name}: the accumulator at the calibration tap equals the f64 model reference's sums`, async () => {
      const ctx = await gpu();
      const checkpoint = await openFixture(name);
      const spec = checkpoint.spec;
      // 5 windows of 16 in batches of 2: two forward shapes (2 windows, then 1), three batches into one total.
      const windows = Array.from({ length: 5 }, () => Array.from({ length: 16 }, () => rng.int(spec.vocabSize)));
      const reference = sparseGptModelReference(
        await loadReferenceWeights(checkpoint),
        windows,
        { sparsity: 0, pattern: UNSTRUCTURED, blockSize: 128, damp: 0.01 },
        'dense',
      );
      const moeLayers = spec.moeLayers.flatMap((m, l) => (m ? [l] : []));
      await withinErrorScopes(ctx, async () => {
        const model = await GpuModel.upload(ctx, checkpoint);
        const hessians = await HessianAccumulator.create(model, moeLayers);
        try {
          await calibrateOnGpu(model, windows, { tokensPerBatch: 32, onMoeTap: (tap) => hessians.record(tap) });
          const read = async (slabs: HessianSlab[]) => {
            const parts = await Promise.all(slabs.map((slab) => ctx.readF32(slab.buffer)));
            const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
            let at = 0;
            for (const p of parts) {
              all.set(p, at);
              at += p.length;
            }
            return all;
          };
          const concat = (list: Float64Array[]) => {
            const all = new Float64Array(list.reduce((n, x) => n + x.length, 0));
            list.forEach((x, i) => all.set(x, i * x.length));
            return all;
          };
          for (const l of moeLayers) {
            const got = hessians.of(l);
            const want = reference.sums[l]!;
            const scale = (xs: Float64Array) => xs.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
            const check = (values: Float32Array, ref: Float64Array, label: string) =>
              expectClose(values, ref, { atol: 1e-5 * scale(ref), rtol: 1e-4, label: `${name} layers.${l} ${label}` });
            check(await read(got.input), concat(want.input), 'input sums');
            check(await read(got.inter), concat(want.inter), 'intermediate sums');
            expect(got.tokens).toBe(5 * 16);
            if (want.sharedInput) {
              check(await read([got.sharedInput!]), want.sharedInput, 'shared input sums');
              check(await read([got.sharedInter!]), want.sharedInter!, 'shared intermediate sums');
            } else {
              expect(got.sharedInput).toBeNull();
            }
          }
        } finally {
          hessians.destroy();
          model.destroy();
        }
      });
    });
  }
});
