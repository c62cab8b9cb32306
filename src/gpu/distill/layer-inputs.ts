/**
 * Distillation of a streamed model (docs/distillation.md "Under a GPU memory budget"): the student's residual
 * stream entering decoder layer l, for every training window, computed layer-major (src/gpu/model/layer-major.ts's
 * stashes: on the GPU while the budget has room, else in CPU memory). Layers before l are final when layer l is
 * distilled (the distilled ones as replacement weights in the student's mask set, which follow their layer on and
 * off the GPU), so one step's forward through layers 0..l on a batch equals gathering the batch's windows from the
 * stashes and running layer l alone: every kernel of a layer works per token and attention per window, so a
 * window's rows do not depend on which windows share its pass.
 */
import type { WindowOrder } from '../../engine/distill/data.ts';
import type { GpuForward } from '../model/forward.ts';
import type { GpuMaskSet } from '../model/gpu-mask-set.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { ResidualStash } from '../model/layer-major.ts';
import type { Recorder } from '../recorder.ts';

/** Windows [first, first + forward.windows) of the training data, run as one pass of `forward`'s shape. */
interface Chunk {
  forward: GpuForward;
  first: number;
  stash: ResidualStash | null;
}

export class StreamedLayerInputs {
  /** The decoder layer whose input the stashes hold. */
  private layer = 0;
  private embedded = false;
  private readonly chunks: Chunk[] = [];

  /**
   * `step` is the steps' forward (B windows), `rest` one of N mod B windows (null when B divides N); `reserve`: GPU
   * bytes beside the stashes that a layer's distillation still allocates (its replacement weights).
   */
  constructor(
    private readonly model: GpuModel,
    private readonly masks: GpuMaskSet,
    private readonly order: WindowOrder,
    private readonly step: GpuForward,
    rest: GpuForward | null,
    private readonly reserve: number,
  ) {
    const N = order.windows.length;
    for (let first = 0; first < N; first += step.windows) this.chunks.push({ forward: first + step.windows <= N ? step : rest!, first, stash: null });
  }

  /** The stashes hold the input of layer `l` (l at or after the current one), whose weights are then on the GPU. */
  async reach(l: number, signal?: AbortSignal): Promise<void> {
    const { ctx } = this.model;
    if (!this.embedded) {
      for (const chunk of this.chunks) {
        signal?.throwIfAborted();
        const { forward, first } = chunk;
        chunk.stash = await ResidualStash.create(forward, this.model.layerUpBytes() + this.reserve);
        const ids = new Uint32Array(forward.tokens);
        for (let w = 0; w < forward.windows; w++) ids.set(Array.from(this.order.windows[first + w]).slice(0, forward.seqLen), w * forward.seqLen);
        forward.writeIds(ids);
        const rec = ctx.record('distill inputs: embedding');
        forward.recordEmbedding(rec);
        await chunk.stash.save(rec);
      }
      this.embedded = true;
    }
    for (; this.layer < l; this.layer++) {
      const cur = this.layer;
      // Held already when it was just distilled (its replacement weights are in force now).
      await this.model.acquire(cur);
      for (const { forward, stash } of this.chunks) {
        signal?.throwIfAborted();
        const rec = ctx.record(`distill inputs: layer ${cur}`);
        stash!.restore(rec);
        forward.recordLayer(rec, cur, { masks: this.masks.layers[cur] });
        await stash!.save(rec);
      }
      await ctx.idle();
      await this.model.release(cur);
    }
    await this.model.acquire(l);
  }

  /** The step forward's ws.hidden = the stashed rows [S, H] of `windows` (indices into the data), in order. */
  gather(rec: Recorder, windows: ArrayLike<number>): void {
    const B = this.step.windows;
    const bytes = this.step.seqLen * this.model.spec.hiddenSize * 4;
    for (let b = 0; b < windows.length; b++) {
      const w = windows[b];
      this.chunks[Math.floor(w / B)].stash!.copyRange(rec, (w % B) * bytes, bytes, this.step.ws.hidden, b * bytes);
    }
  }

  /** Frees the stashes and, once the GPU is idle, the layer still held; `reach` computes them again from the embedding. */
  async release(): Promise<void> {
    const held = this.layer;
    this.destroy();
    await this.model.ctx.idle();
    await this.model.release(held);
  }

  /** Frees the stashes (the model frees its layers when it is destroyed); `reach` starts again from the embedding. */
  destroy(): void {
    for (const chunk of this.chunks) {
      chunk.stash?.destroy();
      chunk.stash = null;
    }
    this.embedded = false;
    this.layer = 0;
  }
}
