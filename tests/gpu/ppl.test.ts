/**
 * Perplexity on the GPU (src/gpu/eval/perplexity.ts): one window reproduces transformers' number; windowed runs
 * (non-overlapping and strided) equal the CPU reference per window and do not depend on the batch size;
 * progress events and cancellation between batches.
 */
import { describe, expect, it } from 'vitest';
import { NllAccumulator } from '../../src/engine/eval/perplexity.ts';
import { planWindows } from '../../src/engine/eval/windows.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { nllOfRow } from '../../src/engine/reference/ops.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { evaluatePerplexity } from '../../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { openFixture, readFixtureReference } from '../helpers/fixtures.ts';
import { gpu } from './gpu-context.ts';

describe('evaluatePerplexity', () => {
  it('matches transformers on one window and the CPU reference on windows, whatever the batch', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('mixtral');
    const ref = await readFixtureReference('mixtral');
    const ids = ref.inputIds;
    const model = await GpuModel.upload(ctx, checkpoint);
    try {
      const one = await evaluatePerplexity(model, ids, { ctx: ids.length });
      expect(one.tokens).toBe(ids.length - 1);
      expect(Math.abs(one.nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-4);
      expect(Math.abs(one.ppl - ref.perplexity) / ref.perplexity).toBeLessThan(1e-4 * ref.meanNll * 1.01);

      const weights = await loadReferenceWeights(checkpoint);
      const V = checkpoint.spec.vocabSize;
      for (const [ctxLength, stride, maxTokens] of [
        [20, 20, 90],
        [24, 10, 96],
      ]) {
        const acc = new NllAccumulator();
        for (const w of planWindows(maxTokens, ctxLength, stride).windows) {
          const window = ids.slice(w.start, w.start + w.length);
          const { logits } = referenceForward(weights, window);
          acc.addWindow(
            w,
            window.slice(1).map((target, j) => nllOfRow(logits, j * V, V, target)),
          );
        }
        const expected = acc.result();
        const batched = await evaluatePerplexity(model, ids, { ctx: ctxLength, stride, maxTokens, batch: 3 });
        const single = await evaluatePerplexity(model, ids, { ctx: ctxLength, stride, maxTokens, batch: 1 });
        expect(batched.tokens).toBe(expected.tokens);
        expect(Math.abs(batched.nll - expected.nll) / expected.nll).toBeLessThan(1e-5);
        expect(single.nll).toBe(batched.nll);
      }
    } finally {
      model.destroy();
    }
  });

  it('reports progress per batch and stops between batches when aborted', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('granitemoe');
    const ids = (await readFixtureReference('granitemoe')).inputIds;
    const model = await GpuModel.upload(ctx, checkpoint);
    try {
      const events: { done: number; total: number }[] = [];
      await evaluatePerplexity(model, ids, { ctx: 16, batch: 2, onProgress: (p) => events.push(p) });
      expect(events).toEqual([
        { done: 2, total: 6 },
        { done: 4, total: 6 },
        { done: 6, total: 6 },
      ]);
      const controller = new AbortController();
      const seen: number[] = [];
      const run = evaluatePerplexity(model, ids, {
        ctx: 16,
        batch: 2,
        signal: controller.signal,
        onProgress: (p) => {
          seen.push(p.done);
          controller.abort();
        },
      });
      await expect(run).rejects.toThrow(/abort/i);
      expect(seen).toEqual([2]);
    } finally {
      model.destroy();
    }
  });
});
