/**
 * The per-token routing record (src/gpu/calibration/routing-record.ts) against the CPU reference forward: the
 * same experts in the same slot order, the same weights, and the router entropy / margin of the reference's
 * router logits — for a family of each routing rule, over two windows, dense and with a dropped expert.
 */
import { describe, expect, it } from 'vitest';
import { routerHealthOfLogits } from '../../src/engine/reference/stats/kernels.ts';
import { HISTOGRAM_BINS } from '../../src/engine/calibration/stats.ts';
import type { MaskSet } from '../../src/engine/model/mask-set.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { maskReferenceWeights } from '../../src/engine/reference/masked-weights.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { recordTokenRouting } from '../../src/gpu/calibration/routing-record.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { uploadMasks } from '../../src/gpu/model/gpu-mask-set.ts';
import { openFixture, readFixtureReference, type FixtureName } from '../helpers/fixtures.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const CASES: [FixtureName, boolean][] = [
  ['mixtral', false], // softmax -> top-k -> renormalize
  ['granitemoe', false], // top-k -> softmax
  ['phimoe', true], // sparsemixer, expert 2 dropped in layer 1
];

describe.each(CASES)('routing record: %s (dropped expert: %s)', (name, drop) => {
  it('equals the reference forward token by token', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture(name);
    const { spec } = checkpoint;
    const ids = (await readFixtureReference(name)).inputIds;
    const windows = [ids.slice(0, 40), ids.slice(40, 80)];
    const maskSet: MaskSet = { layers: spec.moeLayers.map(() => null) };
    if (drop) maskSet.layers[1] = { matrices: {}, expertEnabled: Uint8Array.from({ length: spec.numExperts }, (_, e) => (e === 2 ? 0 : 1)) };
    const record = await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      const masks = drop ? await uploadMasks(model, maskSet) : null;
      try {
        return await recordTokenRouting(model, windows, { masks });
      } finally {
        masks?.destroy();
        model.destroy();
      }
    });
    const w = maskReferenceWeights(await loadReferenceWeights(checkpoint), maskSet);
    const { topK: K, numExperts: E } = spec;
    expect(record).toMatchObject({ windows: 2, seqLen: 40, topK: K });
    windows.forEach((window, b) => {
      referenceForward(w, window, {
        onMoeLayer: (l, trace) => {
          const got = record.layers[l]!;
          const T = window.length;
          const ids = Array.from(got.expertIds.subarray(b * T * K, (b + 1) * T * K));
          expect(ids, `layer ${l} window ${b} experts`).toEqual(trace.routed.flatMap((r) => r.experts));
          if (drop && l === 1) expect(ids).not.toContain(2);
          expectClose(
            got.gates.subarray(b * T * K, (b + 1) * T * K),
            trace.routed.flatMap((r) => r.weights),
            { atol: 1e-5, rtol: 1e-4, label: `layer ${l} gates` },
          );
          const health = routerHealthOfLogits(trace.routerLogits, E, HISTOGRAM_BINS);
          expectClose(got.entropy.subarray(b * T, (b + 1) * T), health.entropy, { atol: 1e-5, rtol: 1e-4, label: `layer ${l} entropy` });
          expectClose(got.margin.subarray(b * T, (b + 1) * T), health.margin, { atol: 1e-5, rtol: 1e-4, label: `layer ${l} margin` });
        },
      });
    });
  });
});
