/**
 * The forward pass over token windows: ids [B, S] (B windows of S tokens, T = B * S, positions 0..S-1 in each
 * window, attention inside a window) -> per-token next-token NLL and/or logits, with optional debug taps (router
 * logits, MoE input/output per layer) and the per-MoE-layer hook (taps.ts). Everything for one pass is recorded
 * into one command buffer; logits are computed in chunks of rows so [T, V] is never needed when only NLL is.
 * Deterministic run to run: no float atomics, every reduction in a fixed order.
 */
import { recordEmbedding } from '../kernels/nn/embedding.ts';
import { recordMatmul } from '../kernels/nn/matmul.ts';
import { NO_TARGET, recordNll } from '../kernels/eval/nll.ts';
import type { Recorder } from '../recorder.ts';
import type { GpuModel } from './gpu-model.ts';
import { recordLayer, recordModelNorm, type LayerOptions } from './layer.ts';
import type { GpuMaskSet } from './gpu-mask-set.ts';
import type { MoeLayerHook } from './taps.ts';
import { Workspace } from './workspace.ts';

export type TapName = 'routerLogits' | 'moeInput' | 'moeOutput';

export interface ForwardRequest {
  /** [B * S] token ids, window after window. */
  ids: ArrayLike<number>;
  masks?: GpuMaskSet | null;
  /** Read back logits [T, V] f32. */
  logits?: boolean;
  /** Per-token NLL of the next token in the window, [T]; NaN at the last token of each window. */
  nll?: boolean;
  /** Copy these per MoE layer: routerLogits [T, E], moeInput [T, H], moeOutput [T, H]. */
  taps?: TapName[];
  onMoeLayer?: MoeLayerHook;
  signal?: AbortSignal;
}

export interface ForwardResult {
  windows: number; // B
  seqLen: number; // S
  logits?: Float32Array; // [T, V]
  nll?: Float32Array; // [T]
  /** Per layer, the requested taps (empty for dense layers). */
  layers: Partial<Record<TapName, Float32Array>>[];
}

/** Next-token targets [B * S]: ids[t + 1] inside a window, NO_TARGET at each window's last token. */
export function nextTokenTargets(ids: ArrayLike<number>, seqLen: number): Uint32Array {
  const targets = new Uint32Array(ids.length);
  for (let t = 0; t < ids.length; t++) targets[t] = (t + 1) % seqLen === 0 ? NO_TARGET : ids[t + 1];
  return targets;
}

/** A forward pass of one shape (B windows of S tokens) over a model; reusable for many batches of that shape. */
export class GpuForward {
  readonly ws: Workspace;

  constructor(
    readonly model: GpuModel,
    readonly windows: number,
    readonly seqLen: number,
    /** false: embedding and layers only (calibration needs no logits): the workspace has no logits chunk. */
    head = true,
  ) {
    if (!Number.isInteger(windows) || !Number.isInteger(seqLen) || windows < 1 || seqLen < 1) {
      throw new RangeError(`forward: windows and sequence length must be positive integers (got ${windows} x ${seqLen})`);
    }
    this.ws = new Workspace(model.ctx, model.spec, windows, seqLen, head);
  }

  get tokens(): number {
    return this.ws.tokens;
  }

  /** Checks and uploads ids [T] and their next-token targets. */
  writeIds(ids: ArrayLike<number>): void {
    const { vocabSize: V } = this.model.spec;
    if (ids.length !== this.tokens) throw new RangeError(`forward: expected ${this.windows} x ${this.seqLen} = ${this.tokens} token ids, got ${ids.length}`);
    const words = new Uint32Array(ids.length);
    for (let t = 0; t < ids.length; t++) {
      const id = ids[t];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} at position ${t} is outside the vocabulary (0..${V - 1})`);
      words[t] = id;
    }
    this.model.ctx.write(this.ws.ids, words);
    this.model.ctx.write(this.ws.targets, nextTokenTargets(words, this.seqLen));
  }

  /** ws.hidden = embedding(ids) * embedding_multiplier. */
  recordEmbedding(rec: Recorder): void {
    const { spec, embedding } = this.model;
    recordEmbedding(rec, this.ws.ids, embedding, this.ws.hidden, this.tokens, spec.hiddenSize, spec.embeddingMultiplier);
  }

  /** Layer l on ws.hidden, in place (see layer.ts). */
  recordLayer(rec: Recorder, l: number, options: LayerOptions = {}): void {
    recordLayer(rec, this.model, this.ws, l, options);
  }

  /**
   * Every layer on ws.hidden, in order, into `rec` (`after(l)` right after layer l: taps). A streamed model's layers
   * come up one at a time (GpuModel.withLayer): `rec` is submitted after each and the layer freed once it has run.
   */
  async recordLayers(rec: Recorder, options: (l: number) => LayerOptions, after?: (l: number) => void, signal?: AbortSignal): Promise<void> {
    for (let l = 0; l < this.model.spec.numLayers; l++) {
      signal?.throwIfAborted();
      await this.model.withLayer(l, async () => {
        this.recordLayer(rec, l, options(l));
        after?.(l);
        if (this.model.streamed) await rec.submit();
      });
    }
  }

  /** ws.normed = final norm(ws.hidden): the LM head's input. */
  recordFinalNorm(rec: Recorder): void {
    recordModelNorm(rec, this.model, this.model.finalNorm, this.ws.hidden, this.ws.normed, this.tokens);
  }

  /**
   * Logits of rows first .. first + rows - 1 into ws.logits [rows, V] (/ logits_scaling), and their NLL. `from`
   * swaps the head's input [T, H] and output [rows, V] for other buffers (a saved final-norm output: the fidelity
   * comparison's dense logits, src/gpu/eval/fidelity.ts).
   */
  recordHeadChunk(rec: Recorder, first: number, rows: number, nll: boolean, from?: { normed: GPUBuffer; logits: GPUBuffer }): void {
    const { spec, lmHead } = this.model;
    recordMatmul(rec, {
      x: from?.normed ?? this.ws.normed,
      xRowOffset: first,
      weight: lmHead.weight,
      bias: lmHead.bias,
      y: from?.logits ?? this.ws.logits,
      rows,
      cols: spec.vocabSize,
      inner: spec.hiddenSize,
      scale: 1 / spec.logitsScaling,
      label: 'lm head',
    });
    if (nll) recordNll(rec, from?.logits ?? this.ws.logits, this.ws.targets, this.ws.nll, rows, spec.vocabSize, first);
  }

  /**
   * Runs the whole forward on `request.ids` and reads back what it asks for. A streamed model (GpuModel.acquire)
   * brings each layer up before it is recorded and frees it once its commands have run: the same kernels in the
   * same order, one command buffer per layer instead of one for the pass.
   */
  async run(request: ForwardRequest): Promise<ForwardResult> {
    const { ctx, spec } = this.model;
    const T = this.tokens;
    this.writeIds(request.ids);
    const tapNames = request.taps ?? [];
    const tapBuffers: Partial<Record<TapName, GPUBuffer>>[] = [];
    const ws = this.ws;
    try {
      const rec = ctx.record('forward');
      this.recordEmbedding(rec);
      const layerOptions = (l: number): LayerOptions => ({ masks: request.masks?.layers[l] ?? null, onMoeLayer: request.onMoeLayer });
      const copyTaps = (l: number) => {
        const taps: Partial<Record<TapName, GPUBuffer>> = {};
        if (spec.moeLayers[l]) {
          const sources: Record<TapName, [GPUBuffer, number]> = {
            routerLogits: [ws.routerLogits, T * spec.numExperts * 4],
            moeInput: [ws.normed, T * spec.hiddenSize * 4],
            moeOutput: [ws.branch, T * spec.hiddenSize * 4],
          };
          for (const name of tapNames) {
            const [source, bytes] = sources[name];
            taps[name] = ctx.createBuffer(`tap layers.${l}.${name}`, bytes);
            rec.copy(source, 0, taps[name], 0, bytes);
          }
        }
        tapBuffers.push(taps);
      };
      await this.recordLayers(rec, layerOptions, copyTaps, request.signal);
      const result = await this.finish(rec, request);
      for (const taps of tapBuffers) {
        const read: Partial<Record<TapName, Float32Array>> = {};
        for (const [name, buffer] of Object.entries(taps) as [TapName, GPUBuffer][]) read[name] = await ctx.readF32(buffer);
        result.layers.push(read);
      }
      ctx.throwIfFailed();
      return result;
    } finally {
      for (const taps of tapBuffers) for (const b of Object.values(taps)) b.destroy();
    }
  }

  /**
   * The end of a pass from ws.hidden after the last layer (with `rec` holding whatever is not yet submitted): the
   * final norm, then the LM head in chunks of rows for the logits and/or NLL the request asks for, read back.
   */
  async finish(rec: Recorder, request: Pick<ForwardRequest, 'logits' | 'nll' | 'signal'>): Promise<ForwardResult> {
    const { ctx, spec } = this.model;
    const T = this.tokens;
    const ws = this.ws;
    this.recordFinalNorm(rec);
    const result: ForwardResult = { windows: this.windows, seqLen: this.seqLen, layers: [] };
    const rowsPerChunk = ws.logitRows;
    if (request.logits) {
      await rec.submit();
      result.logits = new Float32Array(T * spec.vocabSize);
      for (let first = 0; first < T; first += rowsPerChunk) {
        request.signal?.throwIfAborted();
        const rows = Math.min(rowsPerChunk, T - first);
        const chunk = ctx.record('lm head');
        this.recordHeadChunk(chunk, first, rows, Boolean(request.nll));
        await chunk.submit();
        result.logits.set(await ctx.readF32(ws.logits, 0, rows * spec.vocabSize * 4), first * spec.vocabSize);
      }
    } else if (request.nll) {
      for (let first = 0; first < T; first += rowsPerChunk) this.recordHeadChunk(rec, first, Math.min(rowsPerChunk, T - first), true);
      await rec.submit();
    } else {
      await rec.submit();
    }
    if (request.nll) {
      result.nll = await ctx.readF32(ws.nll, 0, T * 4);
      for (let t = this.seqLen - 1; t < T; t += this.seqLen) result.nll[t] = NaN;
    }
    return result;
  }

  destroy(): void {
    this.ws.destroy();
  }
}
