/**
 * Each statistics kernel (shaders/stats) against its CPU reference (src/engine/reference/stats/kernels.ts)
 * on seeded data with odd sizes: segments of uneven length (one empty), rows gathered through an index, row
 * strides and column offsets, and two batches added to the same running totals.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { routerHealthOfLogits, routingCounts, segmentAbsMax, segmentColumnSqNorms, segmentWeightedRowNorms } from '../../src/engine/reference/stats/kernels.ts';
import { recordColumnSqNorm } from '../../src/gpu/kernels/stats/column_sqnorm.ts';
import { recordRouterHealth } from '../../src/gpu/kernels/stats/router_health.ts';
import { recordRoutingCounts } from '../../src/gpu/kernels/stats/routing_counts.ts';
import { recordRowNorm, ROW_NORM_LANES } from '../../src/gpu/kernels/stats/row_norm.ts';
import { recordSegmentAbsMax } from '../../src/gpu/kernels/stats/segment_absmax.ts';
import { recordSegmentSum } from '../../src/gpu/kernels/stats/segment_sum.ts';
import { expectClose } from '../helpers/tolerance.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const rng = createRng(2024);
const normals = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());

/** Random routing of T tokens to K distinct experts of E (never `unused`), gates in (0, 1). */
function randomRouting(T: number, K: number, E: number, unused = -1) {
  const ids = new Uint32Array(T * K);
  const gates = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    while (chosen.size < K) {
      const e = rng.int(E);
      if (e !== unused) chosen.add(e);
    }
    [...chosen].forEach((e, k) => {
      ids[t * K + k] = e;
      gates[t * K + k] = rng.next();
    });
  }
  return { ids, gates };
}

/**
 * Expert-sorted rows of a routing as the forward's dispatch makes them (moe/dispatch_fill): offsets [E + 1] and
 * each row's assignment t * K + k, tokens ascending within an expert; plus each row's token and gate for the CPU.
 */
function rowsByExpert(ids: Uint32Array, gates: Float32Array, K: number, E: number) {
  const T = ids.length / K;
  const offsets = new Uint32Array(E + 1);
  const rowSlot: number[] = [];
  for (let e = 0; e < E; e++) {
    for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) if (ids[t * K + k] === e) rowSlot.push(t * K + k);
    offsets[e + 1] = rowSlot.length;
  }
  return {
    offsets,
    rowSlot: Uint32Array.from(rowSlot),
    rowToken: Uint32Array.from(rowSlot, (a) => Math.floor(a / K)),
    rowGate: Float32Array.from(rowSlot, (a) => gates[a]),
  };
}

/** One batch of expert outputs on the GPU (outputs, gates, row slots, offsets) and a [R] norms buffer, each added to `created`. */
async function uploadOutputBatch(
  ctx: GpuContext,
  b: { out: Float32Array; gates: Float32Array; routing: ReturnType<typeof rowsByExpert> },
  created: GPUBuffer[],
) {
  const R = b.routing.rowGate.length;
  const values = await ctx.upload('outputs', b.out);
  const gates = await ctx.upload('gates', b.gates);
  const rowSlot = await ctx.upload('row slot', b.routing.rowSlot);
  const offsets = await ctx.upload('offsets', b.routing.offsets);
  const norms = ctx.createBuffer('norms', R * 4);
  created.push(values, gates, rowSlot, offsets, norms);
  return { R, values, gates, rowSlot, offsets, norms };
}

describe('statistics kernels vs CPU reference', () => {
  it('column_sqnorm: rows read through the token of each slot, pre-gathered with stride/offset, all tokens with a sigmoid gate; two batches', async () => {
    const ctx = await gpu();
    const [T, K, E, H, I] = [157, 3, 7, 93, 45];
    const batches = [-1, 5].map((unused) => {
      // Expert 5 gets no tokens in the second batch: an empty segment.
      const { ids, gates } = randomRouting(T, K, E, unused);
      const routing = rowsByExpert(ids, gates, K, E);
      return { x: normals(T * H), gates, routing, inter: normals(routing.rowGate.length * (I + 11)), sharedGateLogit: normals(T) };
    });
    const got = await withinErrorScopes(ctx, async () => {
      // One totals buffer: input plain, input gated [E, H]; inter plain, inter gated [E, I]; all tokens plain,
      // sigmoid-gated [H].
      const at = [0, E * H, 2 * E * H, 2 * E * H + E * I, 2 * E * H + 2 * E * I, 2 * E * H + 2 * E * I + H];
      const totals = ctx.createBuffer('totals', (at[5] + H) * 4);
      const created = [totals];
      for (const b of batches) {
        const x = await ctx.upload('x', b.x);
        const offsets = await ctx.upload('offsets', b.routing.offsets);
        const rowSlot = await ctx.upload('row slot', b.routing.rowSlot);
        const gates = await ctx.upload('gates', b.gates);
        const inter = await ctx.upload('inter', b.inter);
        const all = await ctx.upload('all', Uint32Array.of(0, T));
        const sharedGate = await ctx.upload('shared gate logit', b.sharedGateLogit);
        created.push(x, offsets, rowSlot, gates, inter, all, sharedGate);
        const rec = ctx.record();
        const experts = { rowSlot, gates, offsets, segments: E, totals };
        recordColumnSqNorm(rec, { ...experts, rows: x, width: H, fromTokens: true, topK: K, plainAt: at[0], gatedAt: at[1] });
        recordColumnSqNorm(rec, { ...experts, rows: inter, width: I, rowStride: I + 11, columnOffset: 11, plainAt: at[2], gatedAt: at[3] });
        recordColumnSqNorm(rec, { rows: x, width: H, gates: sharedGate, gateSigmoid: true, offsets: all, segments: 1, totals, plainAt: at[4], gatedAt: at[5] });
        await rec.submit();
      }
      const all = await ctx.readF32(totals);
      for (const b of created) b.destroy();
      return at.map((from, i) => all.subarray(from, at[i + 1] ?? all.length));
    });
    const expected = [E * H, E * H, E * I, E * I, H, H].map((n) => new Float64Array(n));
    for (const b of batches) {
      const { offsets, rowToken, rowGate } = b.routing;
      const input = segmentColumnSqNorms({ rows: b.x, width: H, rowSource: rowToken, offsets }, rowGate);
      const inter = segmentColumnSqNorms({ rows: b.inter, width: I, rowStride: I + 11, columnOffset: 11, offsets }, rowGate);
      const sigmoid = Float64Array.from(b.sharedGateLogit, (v) => 1 / (1 + Math.exp(-v)));
      const all = segmentColumnSqNorms({ rows: b.x, width: H, offsets: [0, T] }, sigmoid);
      [input.plain, input.gated, inter.plain, inter.gated, all.plain, all.gated].forEach((v, i) => v.forEach((y, j) => (expected[i][j] += y)));
    }
    const labels = ['input_sqnorm', 'input_sqnorm_gated', 'inter_sqnorm', 'inter_sqnorm_gated', 'all-token sqnorm', 'all-token sigmoid-gated'];
    got.forEach((g, i) => expectClose(g, expected[i], { atol: 1e-6, rtol: 1e-5, label: labels[i] }));
  });

  // The co-activation row in workgroup memory is E rounded up to 32 (coactivationRow): 13 -> 32, 70 -> 96.
  it.each([13, 70])('routing_counts with E = %i: tokens, gate sums and co-activation over two batches', async (E) => {
    const ctx = await gpu();
    const [T, K] = [301, 4];
    const batches = [randomRouting(T, K, E), randomRouting(T, K, E)];
    const [tokens, gateSum, coactivation] = await withinErrorScopes(ctx, async () => {
      const expertTokens = ctx.createBuffer('tokens', E * 4);
      const expertGateSum = ctx.createBuffer('gate sum', E * 4);
      const co = ctx.createBuffer('coactivation', E * E * 4);
      const created = [expertTokens, expertGateSum, co];
      for (const b of batches) {
        const expertIds = await ctx.upload('ids', b.ids);
        const gates = await ctx.upload('gates', b.gates);
        created.push(expertIds, gates);
        const rec = ctx.record();
        recordRoutingCounts(rec, { expertIds, gates, tokens: T, topK: K, experts: E, expertTokens, expertGateSum, coactivation: co });
        await rec.submit();
      }
      const out = [await ctx.readU32(expertTokens), await ctx.readF32(expertGateSum), await ctx.readU32(co)] as const;
      for (const b of created) b.destroy();
      return out;
    });
    const a = routingCounts(batches[0].ids, batches[0].gates, K, E);
    const b = routingCounts(batches[1].ids, batches[1].gates, K, E);
    expect(Array.from(tokens)).toEqual(Array.from(a.expertTokens, (v, e) => v + b.expertTokens[e]));
    expect(Array.from(coactivation)).toEqual(Array.from(a.coactivation, (v, i) => v + b.coactivation[i]));
    expectClose(
      gateSum,
      Array.from(a.expertGateSum, (v, e) => v + b.expertGateSum[e]),
      { atol: 1e-6, rtol: 1e-5, label: 'expert_gate_sum' },
    );
  });

  it('router_health: per-token entropy and margin; histograms within one bin of the f64 values at bin edges', async () => {
    const ctx = await gpu();
    const [T, E, bins] = [517, 11, 32];
    const logits = normals(T * E, 2);
    // Experts 3 and 7 dropped (expert pruning): left out of the softmax, whatever their logits.
    const enabledExperts = Uint32Array.from({ length: E }, (_, e) => (e === 3 || e === 7 ? 0 : 1));
    const [entropy, margin, hist] = await withinErrorScopes(ctx, async () => {
      const routerLogits = await ctx.upload('logits', logits);
      const enabled = await ctx.upload('enabled', enabledExperts);
      const tokenEntropy = ctx.createBuffer('entropy', T * 4);
      const tokenMargin = ctx.createBuffer('margin', T * 4);
      const histograms = ctx.createBuffer('hist', 2 * bins * 4);
      const rec = ctx.record();
      recordRouterHealth(rec, { routerLogits, enabled, tokens: T, experts: E, tokenEntropy, tokenMargin, histograms, bins });
      await rec.submit();
      const out = [await ctx.readF32(tokenEntropy), await ctx.readF32(tokenMargin), await ctx.readU32(histograms)] as const;
      for (const b of [routerLogits, enabled, tokenEntropy, tokenMargin, histograms]) b.destroy();
      return out;
    });
    const ref = routerHealthOfLogits(logits, E, bins, enabledExperts);
    expectClose(entropy, ref.entropy, { atol: 2e-6, rtol: 1e-5, label: 'entropy' });
    expectClose(margin, ref.margin, { atol: 2e-6, rtol: 1e-5, label: 'margin' });
    expectHistogramsClose(hist.subarray(0, bins), ref.entropyHist, ref.entropy, Math.log(E), 'entropy histogram');
    expectHistogramsClose(hist.subarray(bins), ref.marginHist, ref.margin, 1, 'margin histogram');
  });

  it.each([ROW_NORM_LANES.gpu, ROW_NORM_LANES.software])(
    'row_norm (%i lanes per row) + segment_sum: per-expert sum of g * ||output row|| over two batches',
    async (lanes) => {
      const ctx = await gpu();
      const [T, K, E, H] = [211, 2, 9, 77];
      const batches = [0, 1].map(() => {
        const { ids, gates } = randomRouting(T, K, E);
        const routing = rowsByExpert(ids, gates, K, E);
        return { gates, routing, out: normals(routing.rowGate.length * H) };
      });
      const got = await withinErrorScopes(ctx, async () => {
        const totals = ctx.createBuffer('reap', E * 4);
        const created = [totals];
        for (const b of batches) {
          const { R, values, gates, rowSlot, offsets, norms } = await uploadOutputBatch(ctx, b, created);
          const rec = ctx.record();
          recordRowNorm(rec, { values, rows: R, width: H, norms, lanes });
          recordSegmentSum(rec, { value: norms, rowSlot, gates, offsets, segments: E, totals });
          await rec.submit();
        }
        const out = await ctx.readF32(totals);
        for (const b of created) b.destroy();
        return out;
      });
      const expected = new Float64Array(E);
      for (const b of batches) {
        segmentWeightedRowNorms({ rows: b.out, width: H, offsets: b.routing.offsets }, b.routing.rowGate).forEach((v, e) => (expected[e] += v));
      }
      expectClose(got, expected, { atol: 1e-6, rtol: 1e-5, label: 'expert_output_norm_gated_sum' });
    },
  );

  it('segment_sum ungated (EAN) and segment_absmax (super experts): per-expert sum of ||row|| and max |value| over two batches, one expert empty', async () => {
    const ctx = await gpu();
    const [T, K, E, H] = [173, 2, 7, 45];
    const batches = [0, 1].map((i) => {
      const { ids, gates } = randomRouting(T, K, E, 3);
      const routing = rowsByExpert(ids, gates, K, E);
      // One massive activation in the second batch (a super expert's signature).
      const out = normals(routing.rowGate.length * H);
      if (i === 1) out[5 * H + 7] = -400;
      return { gates, routing, out };
    });
    const got = await withinErrorScopes(ctx, async () => {
      const sums = ctx.createBuffer('ean', E * 4);
      const maxima = ctx.createBuffer('absmax', E * 4);
      const created = [sums, maxima];
      for (const b of batches) {
        const { R, values, gates, rowSlot, offsets, norms } = await uploadOutputBatch(ctx, b, created);
        const rec = ctx.record();
        recordRowNorm(rec, { values, rows: R, width: H, norms });
        recordSegmentSum(rec, { value: norms, rowSlot, gates, offsets, segments: E, totals: sums, gated: false });
        recordSegmentAbsMax(rec, { values, width: H, offsets, segments: E, totals: maxima });
        await rec.submit();
      }
      const out = { sums: await ctx.readF32(sums), maxima: await ctx.readF32(maxima) };
      for (const b of created) b.destroy();
      return out;
    });
    const sums = new Float64Array(E);
    const maxima = new Float64Array(E);
    for (const b of batches) {
      const rows = { rows: b.out, width: H, offsets: b.routing.offsets };
      segmentWeightedRowNorms(rows, new Float64Array(b.routing.rowGate.length).fill(1)).forEach((v, e) => (sums[e] += v));
      segmentAbsMax(rows).forEach((v, e) => (maxima[e] = Math.max(maxima[e], v)));
    }
    expectClose(got.sums, sums, { atol: 1e-6, rtol: 1e-5, label: 'expert_output_norm_sum' });
    // Max is exact: the GPU picks the same f32 value.
    expect(Array.from(got.maxima)).toEqual(Array.from(maxima));
    expect(got.maxima[3]).toBe(0);
    expect(Math.max(...got.maxima)).toBe(400);
  });
});

/**
 * Histograms of f32 (GPU) and f64 (CPU) values agree except where a value lies within rounding of a bin edge:
 * there one count may move to the neighbouring bin. Every move must be explained by such a value.
 */
function expectHistogramsClose(got: ArrayLike<number>, ref: ArrayLike<number>, values: ArrayLike<number>, top: number, label: string): void {
  const bins = ref.length;
  let nearEdge = 0;
  for (let t = 0; t < values.length; t++) {
    const position = (values[t] / top) * bins;
    if (Math.abs(position - Math.round(position)) < 1e-4 * bins) nearEdge++;
  }
  let moved = 0;
  for (let b = 0; b < bins; b++) moved += Math.abs(got[b] - ref[b]);
  expect(
    Array.from(got).reduce((a, c) => a + c, 0),
    `${label}: total`,
  ).toBe(values.length);
  expect(moved / 2, `${label}: counts moved between bins (values near an edge: ${nearEdge})`).toBeLessThanOrEqual(nearEdge);
}
