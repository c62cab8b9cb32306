/**
 * Layer-major passes for streamed models (GpuModel.acquire): every batch of windows goes through layer l before
 * layer l + 1 is brought up, so each pass reads the checkpoint's layers once however many batches there are.
 * Between layers each batch's residual stream [T_b, H] waits in a stash: a GPU buffer while the memory budget has
 * room, else CPU memory (read back after the layer, written back before the next). Per batch and layer the
 * recorded kernels are the resident forward's (recordLayer), on the same inputs in the same order, so what comes
 * out (NLL, logits, statistics) is bit for bit the resident run's.
 */
import type { GpuContext } from '../context.ts';
import { GpuError } from '../errors.ts';
import type { Recorder } from '../recorder.ts';
import type { GpuForward } from './forward.ts';
import type { GpuModel } from './gpu-model.ts';

/** One batch of a layer-major pass: its forward shape (B_b windows of S tokens) and ids [B_b * S]. */
export interface LayerMajorBatch {
  forward: GpuForward;
  ids: ArrayLike<number>;
}

/** Bytes a GPU stash leaves free for what a layer's pass allocates besides its weights (uniform parameter buffers). */
const STASH_HEADROOM = 64 * 1024;

/** A batch's residual stream [T_b, H] kept between layers: on the GPU, or spilled to CPU memory. */
export class ResidualStash {
  private constructor(
    private readonly ctx: GpuContext,
    private readonly forward: GpuForward,
    private gpu: GPUBuffer | null,
    private cpu: Float32Array | null,
  ) {}

  /**
   * A GPU buffer when the budget allows one beside `reserve` bytes still to come (a streamed layer's weights), else
   * CPU memory.
   */
  static async create(forward: GpuForward, reserve = 0): Promise<ResidualStash> {
    const ctx = forward.model.ctx;
    const bytes = forward.ws.hidden.size;
    const { budget, resident } = ctx.memory;
    // Beside the reserve, room for a spilled stash's readback staging and for the pooled uniform buffers.
    if (budget !== null && resident + 2 * bytes + reserve + STASH_HEADROOM > budget) return new ResidualStash(ctx, forward, null, new Float32Array(bytes / 4));
    try {
      return new ResidualStash(ctx, forward, await ctx.allocate('residual stream stash', bytes), null);
    } catch (error) {
      if (!(error instanceof GpuError) || error.kind !== 'limits') throw error;
      return new ResidualStash(ctx, forward, null, new Float32Array(bytes / 4));
    }
  }

  get onGpu(): boolean {
    return this.gpu !== null;
  }

  /** ws.hidden = the stash (a copy in `rec`, or a queue write that precedes `rec`'s submit). */
  restore(rec: Recorder): void {
    const hidden = this.forward.ws.hidden;
    if (this.gpu) rec.copy(this.gpu, 0, hidden, 0, hidden.size);
    else this.ctx.write(hidden, this.cpu!);
  }

  /**
   * `bytes` of the stash from `byteOffset` into `target` at `targetOffset` (a copy in `rec`, or a queue write that
   * precedes `rec`'s submit): some windows' rows of the residual stream, gathered into another pass's ws.hidden.
   */
  copyRange(rec: Recorder, byteOffset: number, bytes: number, target: GPUBuffer, targetOffset: number): void {
    if (this.gpu) rec.copy(this.gpu, byteOffset, target, targetOffset, bytes);
    else this.ctx.write(target, this.cpu!.subarray(byteOffset / 4, (byteOffset + bytes) / 4), targetOffset);
  }

  /** The stash = ws.hidden after `rec`'s commands: a copy recorded into `rec`, which this submits. */
  async save(rec: Recorder): Promise<void> {
    const hidden = this.forward.ws.hidden;
    if (this.gpu) {
      rec.copy(hidden, 0, this.gpu, 0, hidden.size);
      await rec.submit();
    } else {
      await rec.submit();
      this.cpu = await this.ctx.readF32(hidden);
    }
  }

  destroy(): void {
    this.gpu?.destroy();
    this.gpu = null;
    this.cpu = null;
  }
}

export interface LayerMajorOptions {
  /** GPU bytes the hooks allocate per layer (statistics totals, Hessian sums, their read-back): kept free beside the stashes. */
  layerScratchBytes?: number;
  /** Before any batch goes through layer l (its weights on the GPU): per-layer buffers such as statistics totals. */
  beforeLayer?: (l: number) => Promise<void>;
  /** Records layer l of batch b on its ws.hidden (default: the plain layer). */
  recordLayer?: (rec: Recorder, b: number, l: number) => void;
  /** After every batch went through layer l (its weights still on the GPU, the GPU idle). */
  afterLayer?: (l: number) => Promise<void>;
  signal?: AbortSignal;
}

/**
 * Embedding, then every layer over every batch, layer after layer; resolves with each batch's stash holding its
 * residual stream after the last layer (the caller restores it for the head, then destroys the stashes).
 */
export async function runLayerMajor(model: GpuModel, batches: readonly LayerMajorBatch[], options: LayerMajorOptions = {}): Promise<ResidualStash[]> {
  const { ctx, spec } = model;
  const stashes: ResidualStash[] = [];
  try {
    for (const batch of batches) {
      options.signal?.throwIfAborted();
      // Stashes on the GPU leave room for the largest layer (with its masks) that streams through after them.
      const stash = await ResidualStash.create(batch.forward, model.layerUpBytes() + (options.layerScratchBytes ?? 0));
      stashes.push(stash);
      batch.forward.writeIds(batch.ids);
      const rec = ctx.record('embedding');
      batch.forward.recordEmbedding(rec);
      await stash.save(rec);
    }
    for (let l = 0; l < spec.numLayers; l++) {
      await model.withLayer(l, async () => {
        await options.beforeLayer?.(l);
        for (const [b, batch] of batches.entries()) {
          options.signal?.throwIfAborted();
          const rec = ctx.record(`layer ${l}`);
          stashes[b].restore(rec);
          if (options.recordLayer) options.recordLayer(rec, b, l);
          else batch.forward.recordLayer(rec, l);
          await stashes[b].save(rec);
        }
        await ctx.idle();
        await options.afterLayer?.(l);
      });
    }
    return stashes;
  } catch (error) {
    for (const s of stashes) s.destroy();
    throw error;
  }
}
