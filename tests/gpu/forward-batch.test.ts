/** Batched windows equal single windows, and the forward is deterministic run to run (bit for bit). */
import { describe, expect, it } from 'vitest';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { openFixture, readFixtureReference } from '../helpers/fixtures.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

describe('GPU forward over batched windows', () => {
  it('B=3 windows of S give the same logits and NLL as three B=1 passes, and repeat bit for bit', async () => {
    const ctx = await gpu();
    const checkpoint = await openFixture('qwen3_moe');
    const ids = (await readFixtureReference('qwen3_moe')).inputIds; // 96 = 3 x 32
    const [B, S] = [3, 32];
    const V = checkpoint.spec.vocabSize;
    await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      const batched = new GpuForward(model, B, S);
      const single = new GpuForward(model, 1, S);
      try {
        const all = await batched.run({ ids, logits: true, nll: true, taps: ['routerLogits'] });
        for (let b = 0; b < B; b++) {
          const one = await single.run({ ids: ids.slice(b * S, (b + 1) * S), logits: true, nll: true, taps: ['routerLogits'] });
          expect(one.logits, `window ${b} logits`).toEqual(all.logits!.subarray(b * S * V, (b + 1) * S * V));
          expect(one.nll, `window ${b} nll`).toEqual(all.nll!.subarray(b * S, (b + 1) * S));
          const E = checkpoint.spec.numExperts;
          expect(one.layers[1].routerLogits).toEqual(all.layers[1].routerLogits!.subarray(b * S * E, (b + 1) * S * E));
        }
        const again = await batched.run({ ids, logits: true, nll: true });
        expect(again.logits).toEqual(all.logits);
        expect(again.nll).toEqual(all.nll);
      } finally {
        batched.destroy();
        single.destroy();
        model.destroy();
      }
    });
  });
});
