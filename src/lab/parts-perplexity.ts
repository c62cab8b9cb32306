/**
 * Perplexity of several token streams at once (the genres of a text): every stream's windows (planWindows,
 * non-overlapping) go through the GPU forward in shared batches of equal-length windows, so thirteen genres cost a
 * few passes instead of thirteen. Each stream's NLL is then summed in f64 in its own window order (NllAccumulator),
 * exactly as evaluatePerplexity sums one stream. A streamed model runs every batch layer-major (layerMajorNll), with
 * progress per layer.
 */
import { NllAccumulator, type PerplexityResult } from '../engine/eval/perplexity.ts';
import { planWindows, type EvalWindow } from '../engine/eval/windows.ts';
import { layerMajorNll } from '../gpu/eval/perplexity.ts';
import { GpuForward } from '../gpu/model/forward.ts';
import type { GpuModel } from '../gpu/model/gpu-model.ts';
import type { GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import { maxTokensPerPass } from '../gpu/model/workspace.ts';

/** Tokens per forward pass at most (memory), as evaluatePerplexity's default. */
const TOKENS_PER_PASS = 8192;

interface Job {
  stream: number;
  index: number;
  window: EvalWindow;
}

/** Perplexity of each stream (null for a stream too short to score), windows of `ctx` tokens. */
export async function streamsPerplexity(
  model: GpuModel,
  streams: readonly ArrayLike<number>[],
  ctx: number,
  options: { masks?: GpuMaskSet | null; signal?: AbortSignal; onProgress?: (done: number, total: number, layer?: number) => void } = {},
): Promise<(PerplexityResult | null)[]> {
  const plans = streams.map((s) => planWindows(s.length, ctx).windows);
  const byLength = new Map<number, Job[]>();
  plans.forEach((windows, stream) =>
    windows.forEach((window, index) => byLength.set(window.length, [...(byLength.get(window.length) ?? []), { stream, index, window }])),
  );
  const fit = maxTokensPerPass(model.spec, model.ctx.caps.limits.maxStorageBufferBindingSize);
  const nll = plans.map((windows) => windows.map(() => new Float32Array(0)));
  const total = plans.reduce((n, w) => n + w.length, 0);
  let done = 0;
  const forwards = new Map<string, GpuForward>();
  try {
    const batches: { jobs: Job[]; length: number; forward: GpuForward; ids: Uint32Array }[] = [];
    for (const [length, jobs] of byLength) {
      const perBatch = Math.max(1, Math.min(Math.floor(TOKENS_PER_PASS / length), Math.floor(fit / length)));
      for (let first = 0; first < jobs.length; first += perBatch) {
        const batch = jobs.slice(first, first + perBatch);
        const shape = `${batch.length}x${length}`;
        let forward = forwards.get(shape);
        if (!forward) {
          forward = new GpuForward(model, batch.length, length);
          forwards.set(shape, forward);
        }
        const ids = new Uint32Array(batch.length * length);
        batch.forEach((job, b) => {
          for (let j = 0; j < length; j++) ids[b * length + j] = streams[job.stream][job.window.start + j];
        });
        batches.push({ jobs: batch, length, forward, ids });
      }
    }
    const keep = ({ jobs, length }: (typeof batches)[number], result: Float32Array) =>
      jobs.forEach((job, b) => (nll[job.stream][job.index] = result.slice(b * length, (b + 1) * length)));
    if (model.streamed) {
      const layers = model.spec.numLayers;
      const results = await layerMajorNll(model, batches, {
        masks: options.masks,
        signal: options.signal,
        onLayer: (l) => options.onProgress?.(l + 1, layers + 1, l),
      });
      batches.forEach((batch, b) => keep(batch, results[b]));
      options.onProgress?.(layers + 1, layers + 1);
    } else {
      for (const batch of batches) {
        options.signal?.throwIfAborted();
        const result = await batch.forward.run({ ids: batch.ids, nll: true, masks: options.masks, signal: options.signal });
        keep(batch, result.nll!);
        done += batch.jobs.length;
        options.onProgress?.(done, total);
      }
    }
  } finally {
    for (const forward of forwards.values()) forward.destroy();
  }
  return plans.map((windows, stream) => {
    if (!windows.length) return null;
    const accumulator = new NllAccumulator();
    windows.forEach((window, index) => accumulator.addWindow(window, nll[stream][index]));
    return accumulator.result();
  });
}
