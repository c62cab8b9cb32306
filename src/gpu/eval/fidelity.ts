/**
 * The pruned model against the dense one on the perplexity windows: for every batch of windows one command buffer
 * runs the dense forward (its final-norm output [T, H] kept), then the masked forward over the same weights (masks
 * applied on the fly), and per chunk of rows computes both models' logits [rows, V], their next-token NLL and the
 * fidelity kernel (shaders/eval/fidelity.wgsl: KL(p_dense || p_pruned) and both argmaxes), so [T, V] logits are
 * never held. Windows, batches and the NLL are exactly evaluatePerplexity's (same batch sizes, same kernels on the
 * same bits): the pruned perplexity equals `ppl --masks` and the dense one plain `ppl`, to the last digit. Several
 * streams (the genres of a text) share batches of equal-length windows; each stream is summed in its own window
 * order in f64 (NllAccumulator, FidelityAccumulator).
 */
import { FidelityAccumulator, type FidelityResult } from '../../engine/eval/fidelity.ts';
import { NllAccumulator, type PerplexityResult } from '../../engine/eval/perplexity.ts';
import { planWindows, type EvalWindow } from '../../engine/eval/windows.ts';
import { recordFidelity } from '../kernels/eval/fidelity.ts';
import { GpuForward } from '../model/forward.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { GpuMaskSet } from '../model/gpu-mask-set.ts';
import { batchSize, type PerplexityOptions } from './perplexity.ts';

export interface ComparisonOptions extends Pick<PerplexityOptions, 'batch' | 'tokensPerPass' | 'signal' | 'onProgress'> {
  /** Window length (tokens). */
  ctx: number;
  /** Tokens between window starts; default ctx (non-overlapping). */
  stride?: number;
  /** The pruning compared with the dense model. */
  masks: GpuMaskSet;
}

/** One stream's dense and pruned perplexity and the pruned model's fidelity, over the same scored positions. */
export interface StreamComparison {
  windows: number;
  dense: PerplexityResult;
  pruned: PerplexityResult;
  fidelity: FidelityResult;
}

export interface Comparison {
  /** Per stream; null for a stream too short to score. */
  streams: (StreamComparison | null)[];
  /** Fidelity over every stream's windows pooled (first disagreements of all windows together); null if none scored. */
  fidelity: FidelityResult | null;
}

interface Job {
  stream: number;
  index: number;
  window: EvalWindow;
}

/** Per-position outputs of one window, copied out of a batch. */
interface WindowRows {
  denseNll: Float32Array;
  prunedNll: Float32Array;
  kl: Float32Array;
  denseTop: Uint32Array;
  prunedTop: Uint32Array;
}

/** Buffers of one batch shape besides the forward's workspace. */
class ComparisonBuffers {
  readonly denseNormed: GPUBuffer; // [T, H] the dense model's final-norm output
  readonly denseLogits: GPUBuffer; // [logitRows, V]
  readonly denseNll: GPUBuffer; // [T]
  readonly kl: GPUBuffer; // [T]
  readonly denseTop: GPUBuffer; // [T] u32
  readonly prunedTop: GPUBuffer; // [T] u32

  constructor(readonly forward: GpuForward) {
    const { ctx, spec } = forward.model;
    const T = forward.tokens;
    this.denseNormed = ctx.createBuffer('dense final norm', T * spec.hiddenSize * 4);
    this.denseLogits = ctx.createBuffer('dense logits', forward.ws.logitRows * spec.vocabSize * 4);
    this.denseNll = ctx.createBuffer('dense nll', T * 4);
    this.kl = ctx.createBuffer('kl', T * 4);
    this.denseTop = ctx.createBuffer('dense top', T * 4);
    this.prunedTop = ctx.createBuffer('pruned top', T * 4);
  }

  destroy(): void {
    this.forward.destroy();
    for (const b of [this.denseNormed, this.denseLogits, this.denseNll, this.kl, this.denseTop, this.prunedTop]) b.destroy();
  }
}

/** Runs one batch (ids [B * S]) dense then pruned and reads back the per-position NLL, KL and argmaxes [T]. */
async function compareBatch(buffers: ComparisonBuffers, ids: Uint32Array, masks: GpuMaskSet): Promise<WindowRows> {
  const { forward } = buffers;
  const { ctx, spec } = forward.model;
  const { ws } = forward;
  const T = forward.tokens;
  forward.writeIds(ids);
  const rec = ctx.record('fidelity');
  forward.recordEmbedding(rec);
  await forward.recordLayers(rec, () => ({ masks: null }));
  forward.recordFinalNorm(rec);
  rec.copy(ws.normed, 0, buffers.denseNormed, 0, T * spec.hiddenSize * 4);
  forward.recordEmbedding(rec);
  await forward.recordLayers(rec, (l) => ({ masks: masks.layers[l] ?? null }));
  forward.recordFinalNorm(rec);
  const out = { kl: buffers.kl, denseTop: buffers.denseTop, prunedTop: buffers.prunedTop };
  for (let first = 0; first < T; first += ws.logitRows) {
    const rows = Math.min(ws.logitRows, T - first);
    // Dense logits and NLL (into ws.nll, then set aside), then the pruned ones: both heads read the same weights.
    forward.recordHeadChunk(rec, first, rows, true, { normed: buffers.denseNormed, logits: buffers.denseLogits });
    rec.copy(ws.nll, first * 4, buffers.denseNll, first * 4, rows * 4);
    forward.recordHeadChunk(rec, first, rows, true);
    recordFidelity(rec, buffers.denseLogits, ws.logits, out, rows, spec.vocabSize, first);
  }
  await rec.submit();
  const rows = {
    denseNll: await ctx.readF32(buffers.denseNll),
    prunedNll: await ctx.readF32(ws.nll, 0, T * 4),
    kl: await ctx.readF32(buffers.kl),
    denseTop: await ctx.readU32(buffers.denseTop),
    prunedTop: await ctx.readU32(buffers.prunedTop),
  };
  ctx.throwIfFailed();
  return rows;
}

/** Dense vs pruned on each stream's windows (planWindows with ctx and stride). */
export async function compareStreams(model: GpuModel, streams: readonly ArrayLike<number>[], options: ComparisonOptions): Promise<Comparison> {
  const stride = options.stride ?? options.ctx;
  const plans = streams.map((s) => planWindows(s.length, options.ctx, stride).windows);
  const byLength = new Map<number, Job[]>();
  plans.forEach((windows, stream) =>
    windows.forEach((window, index) => byLength.set(window.length, [...(byLength.get(window.length) ?? []), { stream, index, window }])),
  );
  const results: WindowRows[][] = plans.map(() => []);
  const total = plans.reduce((n, w) => n + w.length, 0);
  const shapes = new Map<string, ComparisonBuffers>();
  let done = 0;
  try {
    for (const [length, jobs] of byLength) {
      const perBatch = batchSize(model, length, options);
      for (let first = 0; first < jobs.length; first += perBatch) {
        options.signal?.throwIfAborted();
        const batch = jobs.slice(first, first + perBatch);
        const shape = `${batch.length}x${length}`;
        let buffers = shapes.get(shape);
        if (!buffers) {
          buffers = new ComparisonBuffers(new GpuForward(model, batch.length, length));
          shapes.set(shape, buffers);
        }
        const ids = new Uint32Array(batch.length * length);
        batch.forEach((job, b) => {
          for (let j = 0; j < length; j++) ids[b * length + j] = streams[job.stream][job.window.start + j];
        });
        const rows = await compareBatch(buffers, ids, options.masks);
        batch.forEach((job, b) => {
          const part = <A extends Float32Array | Uint32Array>(a: A) => a.slice(b * length, (b + 1) * length) as A;
          results[job.stream][job.index] = {
            denseNll: part(rows.denseNll),
            prunedNll: part(rows.prunedNll),
            kl: part(rows.kl),
            denseTop: part(rows.denseTop),
            prunedTop: part(rows.prunedTop),
          };
        });
        done += batch.length;
        options.onProgress?.({ done, total });
      }
    }
  } finally {
    for (const buffers of shapes.values()) buffers.destroy();
  }
  const pooled = new FidelityAccumulator();
  let anyScored = false;
  const perStream = plans.map((windows, stream): StreamComparison | null => {
    if (!windows.length) return null;
    const [dense, pruned, fidelity] = [new NllAccumulator(), new NllAccumulator(), new FidelityAccumulator()];
    windows.forEach((window, index) => {
      const rows = results[stream][index];
      dense.addWindow(window, rows.denseNll);
      pruned.addWindow(window, rows.prunedNll);
      fidelity.addWindow(window, rows);
    });
    pooled.merge(fidelity);
    anyScored = true;
    return { windows: windows.length, dense: dense.result(), pruned: pruned.result(), fidelity: fidelity.result() };
  });
  return { streams: perStream, fidelity: anyScored ? pooled.result() : null };
}
