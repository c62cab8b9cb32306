/**
 * Perplexity of a model on a token stream: windows (src/engine/eval/windows.ts) run through the GPU forward in
 * batches of equal-length windows, per-position NLL read back, the scored positions summed in f64 in window order
 * (the same result whatever the batch size). Progress after every batch; the AbortSignal is checked between
 * batches. A streamed model runs layer-major (src/gpu/model/layer-major.ts: all windows through layer l, then l + 1;
 * progress per layer) with the same NLL.
 */
import { NllAccumulator, type PerplexityResult } from '../../engine/eval/perplexity.ts';
import { planWindows, type EvalWindow } from '../../engine/eval/windows.ts';
import { GpuForward } from '../model/forward.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { GpuMaskSet } from '../model/gpu-mask-set.ts';
import { runLayerMajor, type LayerMajorBatch } from '../model/layer-major.ts';
import { maxTokensPerPass } from '../model/workspace.ts';

export interface PerplexityOptions {
  /** Window length (tokens). */
  ctx: number;
  /** Tokens between window starts; default ctx (non-overlapping). */
  stride?: number;
  /** Read at most this many tokens of the stream. */
  maxTokens?: number;
  /** Windows per forward pass; default: as many as fit in `tokensPerPass`. */
  batch?: number;
  /** Upper bound on B * ctx per pass when `batch` is not given (memory; default 8192). */
  tokensPerPass?: number;
  masks?: GpuMaskSet | null;
  onProgress?: (progress: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

/**
 * Per-position NLL [B_b * S] of each batch of a streamed model, layer-major (layer-major.ts: every batch through
 * layer l before layer l + 1 is read), the resident forward's NLL bit for bit. `onLayer(l)` after every batch went
 * through layer l: the progress of a streamed pass.
 */
export async function layerMajorNll(
  model: GpuModel,
  passes: readonly LayerMajorBatch[],
  options: { masks?: GpuMaskSet | null; signal?: AbortSignal; onLayer?: (layer: number) => void },
): Promise<Float32Array[]> {
  const masks = options.masks?.layers;
  const stashes = await runLayerMajor(model, passes, {
    signal: options.signal,
    recordLayer: (rec, b, l) => passes[b].forward.recordLayer(rec, l, { masks: masks?.[l] ?? null }),
    afterLayer: async (l) => options.onLayer?.(l),
  });
  try {
    const out: Float32Array[] = [];
    for (const [b, { forward, ids }] of passes.entries()) {
      forward.writeIds(ids);
      const rec = model.ctx.record('lm head');
      stashes[b].restore(rec);
      out.push((await forward.finish(rec, { nll: true, signal: options.signal })).nll!);
    }
    return out;
  } finally {
    for (const s of stashes) s.destroy();
  }
}

export interface PerplexityReport extends PerplexityResult {
  windows: number;
  ctx: number;
  stride: number;
}

/** Windows per pass for windows of `length` tokens (also the fidelity comparison's, src/gpu/eval/fidelity.ts). */
export function batchSize(model: GpuModel, length: number, options: Pick<PerplexityOptions, 'batch' | 'tokensPerPass'>): number {
  const fit = Math.floor(maxTokensPerPass(model.spec, model.ctx.caps.limits.maxStorageBufferBindingSize) / length);
  const wanted = options.batch ?? Math.floor((options.tokensPerPass ?? 8192) / length);
  return Math.max(1, Math.min(wanted, fit));
}

export async function evaluatePerplexity(model: GpuModel, stream: ArrayLike<number>, options: PerplexityOptions): Promise<PerplexityReport> {
  const stride = options.stride ?? options.ctx;
  const total = Math.min(stream.length, options.maxTokens ?? Infinity);
  const plan = planWindows(total, options.ctx, stride);
  const accumulator = new NllAccumulator();
  // Batches of consecutive windows of one length (all but possibly the last window have length ctx).
  const batches: EvalWindow[][] = [];
  for (const window of plan.windows) {
    const last = batches.at(-1);
    if (last && last[0].length === window.length && last.length < batchSize(model, window.length, options)) last.push(window);
    else batches.push([window]);
  }
  const forwards = new Map<string, GpuForward>();
  const forwardOf = (batch: EvalWindow[]) => {
    const key = `${batch.length}x${batch[0].length}`;
    let forward = forwards.get(key);
    if (!forward) {
      forward = new GpuForward(model, batch.length, batch[0].length);
      forwards.set(key, forward);
    }
    return forward;
  };
  // Plain numbers, so GpuForward.writeIds sees (and refuses) a non-integer or negative id as given.
  const idsOf = (batch: EvalWindow[]) => batch.flatMap((w) => Array.from({ length: w.length }, (_, j) => stream[w.start + j]));
  let done = 0;
  try {
    if (model.streamed) {
      // Layer-major (layer-major.ts): every batch through layer l before layer l + 1 is read; the same NLL.
      const passes = batches.map((batch) => ({ forward: forwardOf(batch), ids: idsOf(batch) }));
      const nlls = await layerMajorNll(model, passes, {
        masks: options.masks,
        signal: options.signal,
        onLayer: (l) => options.onProgress?.({ done: l + 1, total: model.spec.numLayers + 1 }),
      });
      batches.forEach((batch, b) => batch.forEach((w, i) => accumulator.addWindow(w, nlls[b], i * w.length)));
      options.onProgress?.({ done: model.spec.numLayers + 1, total: model.spec.numLayers + 1 });
    } else {
      for (const batch of batches) {
        options.signal?.throwIfAborted();
        const S = batch[0].length;
        const forward = forwardOf(batch);
        const { nll } = await forward.run({ ids: idsOf(batch), nll: true, masks: options.masks, signal: options.signal });
        batch.forEach((w, b) => accumulator.addWindow(w, nll!, b * S));
        done += batch.length;
        options.onProgress?.({ done, total: plan.windows.length });
      }
    }
  } finally {
    for (const f of forwards.values()) f.destroy();
  }
  return { ...accumulator.result(), windows: plan.windows.length, ctx: options.ctx, stride };
}
