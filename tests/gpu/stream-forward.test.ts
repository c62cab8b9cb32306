/**
 * Layer streaming (docs/forward.md "Layer streaming") on every hf-tiny family: a streamed model (embedding and head
 * resident, each layer uploaded for its pass and freed after) gives bit for bit the resident model's perplexity
 * (layer-major over several batches of windows, also with masks) and the resident forward's logits, NLL and router
 * logits, with one layer on the GPU at a time.
 */
import { describe, expect, it } from 'vitest';
import { evaluatePerplexity } from '../../src/gpu/eval/perplexity.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { uploadMasks } from '../../src/gpu/model/gpu-mask-set.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import type { MaskSet } from '../../src/engine/model/mask-set.ts';
import { maskWords } from '../../src/gpu/weights.ts';
import { createRng } from '../../src/engine/random.ts';
import { FIXTURES, FIXTURES_B, FIXTURES_C, openFixture, readFixtureReference, type AnyFixtureName } from '../helpers/fixtures.ts';
import { gpu } from './gpu-context.ts';
import { setGpuMemoryBudget } from '../../src/gpu/memory.ts';
import { createNodeGpuContext } from '../../src/gpu/node.ts';
import type { GpuContext } from '../../src/gpu/context.ts';

/** Random keep-masks on every layer's experts and o projection (about half kept). */
function randomMasks(model: GpuModel, seed: number): MaskSet {
  const rng = createRng(seed);
  const bits = (elements: number) => Uint32Array.from({ length: maskWords(elements) }, () => rng.nextU32());
  return {
    layers: model.matrixInfos.map((infos, l) => ({
      matrices: Object.fromEntries((['experts.gate_up', 'experts.down', 'attn.o'] as const).filter((k) => infos[k]).map((k) => [k, bits(infos[k]!.elements)])),
      ...(model.spec.moeLayers[l] ? { expertEnabled: Uint8Array.from({ length: model.spec.numExperts }, (_, e) => (e === 1 ? 0 : 1)) } : {}),
    })),
  };
}

describe('layer streaming: the same numbers as the resident model', () => {
  for (const name of [...FIXTURES, ...FIXTURES_B, ...FIXTURES_C] as AnyFixtureName[]) {
    it(`${name}: perplexity (dense and masked), logits, NLL and router logits`, async () => {
      const ctx = await gpu();
      const checkpoint = await openFixture(name);
      const { inputIds } = await readFixtureReference(name);
      const resident = await GpuModel.upload(ctx, checkpoint);
      const streamed = await GpuModel.upload(ctx, checkpoint, { stream: true });
      try {
        expect(streamed.streamed).toBe(true);
        expect(streamed.layers.filter(Boolean)).toHaveLength(0);
        const maskSet = randomMasks(resident, 7);
        const residentMasks = await uploadMasks(resident, maskSet);
        const streamedMasks = await uploadMasks(streamed, maskSet);
        // Windows of 5 tokens, 2 per batch: several batches and a shorter last window.
        const options = { ctx: 5, batch: 2 };
        for (const [a, b] of [
          [null, null],
          [residentMasks, streamedMasks],
        ]) {
          const want = await evaluatePerplexity(resident, inputIds, { ...options, masks: a });
          const got = await evaluatePerplexity(streamed, inputIds, { ...options, masks: b });
          expect(got.nll).toBe(want.nll);
          expect(got.ppl).toBe(want.ppl);
          expect(got.tokens).toBe(want.tokens);
        }
        residentMasks.destroy();
        streamedMasks.destroy();

        const ids = inputIds.slice(0, 8);
        const request = { ids, logits: true, nll: true, taps: ['routerLogits' as const] };
        const f1 = new GpuForward(resident, 1, ids.length);
        const f2 = new GpuForward(streamed, 1, ids.length);
        const want = await f1.run(request);
        const got = await f2.run(request);
        f1.destroy();
        f2.destroy();
        expect(got.logits).toEqual(want.logits);
        expect(got.nll).toEqual(want.nll);
        expect(got.layers).toEqual(want.layers);
        // Only the layer in use was ever on the GPU (the next one is read ahead into host memory); none stays after a pass.
        expect(streamed.layersResidentPeak).toBe(1);
        expect(streamed.layersResident).toBe(0);
        expect(streamed.streamedBytes).toBeGreaterThan(0);
      } finally {
        resident.destroy();
        streamed.destroy();
      }
    });
  }

  it('mixtral: residual streams spilled to CPU memory under a tight budget give the same perplexity', async () => {
    const checkpoint = await openFixture('mixtral');
    const rng = createRng(3);
    const ids = Array.from({ length: 2048 }, () => rng.int(checkpoint.spec.vocabSize));
    const options = { ctx: 64, batch: 4 }; // 8 batches of 256 tokens: 8 stashes of 64 KiB
    const perplexity = async (budget: number | null) => {
      setGpuMemoryBudget(budget);
      let ctx: GpuContext | null = null;
      try {
        ctx = await createNodeGpuContext({ label: 'stream spill' });
        const model = await GpuModel.upload(ctx, checkpoint, { stream: true });
        const report = await evaluatePerplexity(model, ids, options);
        model.destroy();
        return { report, peak: ctx.memory.peak };
      } finally {
        setGpuMemoryBudget(null);
        ctx?.destroy();
      }
    };
    const free = await perplexity(null);
    const stashes = 2048 * checkpoint.spec.hiddenSize * 4;
    // A quarter of the stashes' bytes less than the free run's peak: the first stashes stay on the GPU, the rest spill.
    const tight = await perplexity(free.peak - stashes / 4);
    expect(tight.peak).toBeLessThan(free.peak);
    expect(tight.report).toEqual(free.report);
    const resident = await GpuModel.upload(await gpu(), checkpoint);
    expect(await evaluatePerplexity(resident, ids, options)).toEqual(free.report);
    resident.destroy();
  });
});
