/**
 * Whole-model calibration statistics on the GPU (src/gpu/calibration) for all six fixtures:
 * - dense mode vs the CPU reference (referenceCalibrationStats, f64) on every tensor of the file, <= 1e-4
 *   relative, over several windows in batches of two shapes; router histograms within one bin at bin edges;
 * - dense mode vs the independent computation from transformers' MoE inputs (<= 1e-3);
 * - sequential mode with a synthetic mask vs the CPU reference's sequential mode;
 * - repeatability: two runs give bit-identical totals.
 */
import { describe, expect, it } from 'vitest';
import { referenceCalibrationStats } from '../../src/engine/reference/calibration.ts';
import { routerHealthOfLogits } from '../../src/engine/reference/stats/kernels.ts';
import { HISTOGRAM_BINS, layerTensors, type CalibrationStats, type LayerStats } from '../../src/engine/calibration/stats.ts';
import { allKeptMask, type LayerMasks } from '../../src/engine/model/mask-set.ts';
import type { MoeModelSpec } from '../../src/engine/model/spec.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { loadReferenceWeights, type ReferenceWeights } from '../../src/engine/reference/weights.ts';
import { calibrateOnGpu, type GpuCalibrationOptions } from '../../src/gpu/calibration/calibrate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { independentStats } from '../helpers/calibration-independent.ts';
import { FIXTURES, FIXTURES_B, openFixture, readFixtureReference, type AnyFixtureName } from '../helpers/fixtures.ts';
import { compareArrays, expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

async function gpuStats(name: AnyFixtureName, windows: number[][], options: GpuCalibrationOptions = {}) {
  const ctx = await gpu();
  const checkpoint = await openFixture(name);
  return withinErrorScopes(ctx, async () => {
    const model = await GpuModel.upload(ctx, checkpoint);
    try {
      return await calibrateOnGpu(model, windows, options);
    } finally {
      model.destroy();
    }
  });
}

/** Per-token router entropy and margin of the reference forward (f64), to tell which tokens sit at a bin edge. */
function referenceRouterValues(w: ReferenceWeights, windows: number[][], l: number) {
  const entropy: number[] = [];
  const margin: number[] = [];
  for (const ids of windows) {
    referenceForward(w, ids, {
      layers: l + 1,
      onMoeLayer: (layer, trace) => {
        if (layer !== l) return;
        const health = routerHealthOfLogits(trace.routerLogits, w.spec.numExperts, HISTOGRAM_BINS);
        entropy.push(...health.entropy);
        margin.push(...health.margin);
      },
    });
  }
  return { entropy, margin };
}

/** A histogram count may move to the neighbouring bin only for a token whose f64 value lies within 1e-4 of an edge. */
function expectHistogramWithinEdges(got: Float32Array, ref: Float32Array, values: number[], top: number, label: string): number {
  const bins = ref.length;
  const nearEdge = values.filter((v) => {
    const position = (v / top) * bins;
    return Math.abs(position - Math.round(position)) < 1e-4 * bins;
  }).length;
  const moved = got.reduce((acc, g, b) => acc + Math.abs(g - ref[b]), 0) / 2;
  expect(
    got.reduce((a, b) => a + b, 0),
    `${label} total`,
  ).toBe(ref.reduce((a, b) => a + b, 0));
  expect(moved, `${label}: ${moved} counts moved, ${nearEdge} tokens near an edge`).toBeLessThanOrEqual(nearEdge);
  return moved;
}

/**
 * Every tensor of the statistics file within rtol of the reference. The absolute floor is 1e-6 of the tensor's
 * largest value: an element of a sum of squares that is ~0 (an expert with almost no tokens) carries the forward's
 * own f32-vs-f64 error, not the statistics kernels'.
 */
function expectStatsClose(
  spec: MoeModelSpec,
  got: CalibrationStats,
  ref: CalibrationStats,
  rtol: number,
  w: ReferenceWeights,
  windows: number[][],
  label: string,
) {
  let worst = 0;
  expect(got.tokens).toBe(ref.tokens);
  for (let l = 0; l < spec.numLayers; l++) {
    const g = got.layers[l];
    const r = ref.layers[l];
    if (!r) {
      expect(g).toBeNull();
      continue;
    }
    const refTensors = new Map(layerTensors(l, r).map(([name, data]) => [name, data]));
    for (const [name, data] of layerTensors(l, g!)) {
      const expected = refTensors.get(name)!;
      if (name.endsWith('_hist')) continue;
      const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const result = compareArrays(data, expected, { atol: 1e-6 * scale, rtol, label: `${label} ${name}` });
      if (!result.ok) throw new Error(result.report);
      worst = Math.max(worst, result.maxRelDiff);
    }
    const values = referenceRouterValues(w, windows, l);
    expectHistogramWithinEdges(g!.routerEntropyHist, r.routerEntropyHist, values.entropy, Math.log(spec.numExperts), `${label} layer ${l} entropy`);
    expectHistogramWithinEdges(g!.routerMarginHist, r.routerMarginHist, values.margin, 1, `${label} layer ${l} margin`);
  }
  return worst;
}

describe.each([...FIXTURES, ...FIXTURES_B])('GPU calibration statistics: %s', (name) => {
  it('dense: equal the CPU reference (1e-4) over windows in batches, and the independent computation from the MoE inputs (1e-3)', async () => {
    const checkpoint = await openFixture(name);
    const w = await loadReferenceWeights(checkpoint);
    const ref = await readFixtureReference(name);
    const { spec } = checkpoint;
    // The fixture's 96 ids as three windows of 32, two windows per pass: batches of two shapes (2 and 1 windows).
    const windows = [0, 1, 2].map((i) => ref.inputIds.slice(32 * i, 32 * (i + 1)));
    const progress: number[] = [];
    const { stats } = await gpuStats(name, windows, { tokensPerBatch: 64, onProgress: (p) => progress.push(p.done / p.total) });
    expect(progress).toEqual([0.5, 1]);
    const reference = referenceCalibrationStats(w, windows).stats;
    const worst = expectStatsClose(spec, stats, reference, 1e-4, w, windows, name);

    // One window of all 96 ids: the fixture's own sequence, against transformers' MoE inputs.
    const whole = (await gpuStats(name, [ref.inputIds])).stats;
    for (let l = 0; l < spec.numLayers; l++) {
      if (!spec.moeLayers[l]) continue; // set b's dense first layer
      const s = whole.layers[l]!;
      const direct = independentStats(w, ref, l);
      const tol = { atol: 1e-6, rtol: 1e-3 };
      expectClose(s.expertTokens, direct.tokens, { ...tol, label: `layer ${l} expert_tokens` });
      expectClose(s.expertGateSum, direct.gateSum, { ...tol, label: `layer ${l} expert_gate_sum` });
      for (let e = 0; e < spec.numExperts; e++) {
        expectClose(s.experts[e].inputSqNorm, direct.input[e], { ...tol, label: `layer ${l} expert ${e} input_sqnorm` });
        expectClose(s.experts[e].inputSqNormGated, direct.inputGated[e], { ...tol, label: `layer ${l} expert ${e} input_sqnorm_gated` });
        expectClose(s.experts[e].interSqNorm, direct.inter[e], { ...tol, label: `layer ${l} expert ${e} inter_sqnorm` });
        expectClose(s.experts[e].interSqNormGated, direct.interGated[e], { ...tol, label: `layer ${l} expert ${e} inter_sqnorm_gated` });
      }
    }
    console.log(`${name}: GPU vs CPU reference statistics, max relative difference ${worst.toExponential(2)}`);
  });
});

describe('GPU calibration: sequential mode and repeatability', () => {
  it('sequential with a synthetic mask equals the CPU reference sequential mode', async () => {
    const name = 'qwen2_moe'; // shared expert + gate: every statistic kind
    const checkpoint = await openFixture(name);
    const w = await loadReferenceWeights(checkpoint);
    const ids = (await readFixtureReference(name)).inputIds;
    const windows = [ids.slice(0, 48), ids.slice(48, 96)];
    const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
    // Synthetic mask for layer 0, chosen from its statistics so the callback's input matters: prune every other
    // weight of the experts, and drop the expert with the fewest tokens.
    const synthetic = (l: number, stats: LayerStats): LayerMasks | null => {
      if (l !== 0) return null;
      const gateUp = allKeptMask(E * 2 * I * H);
      const down = allKeptMask(E * H * I);
      for (const m of [gateUp, down]) for (let i = 0; i < m.length; i++) m[i] &= 0x55555555;
      const fewest = stats.expertTokens.indexOf(Math.min(...stats.expertTokens));
      const expertEnabled = Uint8Array.from({ length: E }, (_, e) => (e === fewest ? 0 : 1));
      return { matrices: { 'experts.gate_up': gateUp, 'experts.down': down }, expertEnabled };
    };
    const progress: string[] = [];
    const got = await gpuStats(name, windows, {
      mode: 'sequential',
      masksForLayer: synthetic,
      tokensPerBatch: 48,
      onProgress: (p) => progress.push(`${p.phase}:${p.layer}`),
    });
    expect(progress).toEqual(['statistics:0', 'statistics:0', 'propagate:0', 'propagate:0', 'statistics:1', 'statistics:1']);
    const reference = referenceCalibrationStats(w, windows, { mode: 'sequential', masksForLayer: synthetic });
    expect(got.stats.mode).toBe('sequential');
    expect(Array.from(got.masks.layers[0]!.expertEnabled!)).toEqual(Array.from(reference.masks.layers[0]!.expertEnabled!));
    const worst = expectStatsClose(checkpoint.spec, got.stats, reference.stats, 1e-4, w, windows, `${name} sequential`);
    // Layer 1 really saw the pruned layer 0: its statistics differ from the dense ones.
    const dense = referenceCalibrationStats(w, windows).stats;
    const l1 = got.stats.layers[1]!.attnInputSqNorm;
    expect(l1.some((v, j) => Math.abs(v - dense.layers[1]!.attnInputSqNorm[j]) > 1e-3 * Math.abs(v))).toBe(true);
    console.log(`sequential: GPU vs CPU reference, max relative difference ${worst.toExponential(2)}`);
  });

  it('stops between batches when the signal aborts, in both modes', async () => {
    const ids = (await readFixtureReference('mixtral')).inputIds;
    const windows = [ids.slice(0, 32), ids.slice(32, 64), ids.slice(64, 96)];
    // Not inside withinErrorScopes: a rejected body would leave its error scopes pushed.
    const model = await GpuModel.upload(await gpu(), await openFixture('mixtral'));
    try {
      for (const mode of ['dense', 'sequential'] as const) {
        const controller = new AbortController();
        const seen: number[] = [];
        const run = calibrateOnGpu(model, windows, {
          mode,
          tokensPerBatch: 32,
          signal: controller.signal,
          onProgress: (p) => {
            seen.push(p.done);
            if (p.done === 1) controller.abort();
          },
        });
        await expect(run, mode).rejects.toThrow(/abort/i);
        expect(seen, mode).toEqual([1]);
      }
      // The model is still usable after the aborted runs.
      expect((await calibrateOnGpu(model, windows)).stats.tokens).toBe(96);
    } finally {
      model.destroy();
    }
  });

  it('gives bit-identical totals run to run', async () => {
    const ids = (await readFixtureReference('olmoe')).inputIds;
    const windows = [ids.slice(0, 48), ids.slice(48, 96)];
    const a = (await gpuStats('olmoe', windows, { tokensPerBatch: 48 })).stats;
    const b = (await gpuStats('olmoe', windows, { tokensPerBatch: 48 })).stats;
    for (let l = 0; l < a.layers.length; l++) {
      const bt = new Map(layerTensors(l, b.layers[l]!).map(([n, d]) => [n, d]));
      for (const [n, d] of layerTensors(l, a.layers[l]!)) expect(Array.from(d), n).toEqual(Array.from(bt.get(n)!));
    }
  });
});
