/**
 * Held-out data for distillation tests on random-weight fixtures: windows sampled from the dense model itself
 * (temperature 1, seeded), so that perplexity measures how close a model stays to the dense one — on uniform
 * random tokens a pruned random model can even score better than its dense model, and recovery means nothing.
 */
import type { Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { createRng } from '../../src/engine/random.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';

/** `windows` windows of `length` tokens sampled autoregressively from `checkpoint` (first token uniform). */
export async function sampleFromModel(ctx: GpuContext, checkpoint: Checkpoint, windows: number, length: number, seed: number): Promise<number[][]> {
  const V = checkpoint.spec.vocabSize;
  const rng = createRng(seed);
  const ids = Array.from({ length: windows }, () => [rng.int(V), ...new Array<number>(length - 1).fill(0)]);
  const model = await GpuModel.upload(ctx, checkpoint);
  const forward = new GpuForward(model, windows, length);
  try {
    for (let pos = 1; pos < length; pos++) {
      const { logits } = await forward.run({ ids: ids.flat(), logits: true });
      for (let w = 0; w < windows; w++) {
        const row = logits!.subarray((w * length + pos - 1) * V, (w * length + pos) * V);
        const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
        const p = Array.from(row, (v) => Math.exp(v - max));
        let u = rng.next() * p.reduce((a, b) => a + b, 0);
        let token = 0;
        while (token < V - 1 && (u -= p[token]) > 0) token++;
        ids[w][pos] = token;
      }
    }
  } finally {
    forward.destroy();
    model.destroy();
  }
  return ids;
}
