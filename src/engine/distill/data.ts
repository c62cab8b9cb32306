/**
 * Distillation data: N windows of S + 1 tokens (the first S are a step's inputs), drawn from a text with the
 * calibration rule (src/engine/calibration/sampling.ts: seeded starts over the whole tokenized text, with L = S + 1)
 * or given as ids. Steps visit them B at a time in a seeded order: each epoch is a Fisher-Yates permutation from
 * createRng(mix(seed, epoch)); the last incomplete batch of an epoch is skipped. Batch b is a pure function of
 * (windows, B, seed, b), so a resumed run sees exactly the batches it would have seen.
 */
import { sampleWindows } from '../calibration/sampling.ts';
import { createRng } from '../random.ts';

export interface DistillBatch {
  epoch: number;
  ids: Uint32Array; // [B * S]
}

/**
 * Windows of S + 1 tokens from a token stream (the calibration rule with one extra token). The extra token was the
 * last target of the removed cross-entropy term. It is kept so that the same flags draw the same windows as before.
 */
export function sampleTrainingWindows(tokens: ArrayLike<number>, samples: number, seqLen: number, seed: number): number[][] {
  return sampleWindows(tokens, { samples, seqLen: seqLen + 1, seed });
}

export class WindowOrder {
  /** S: tokens per window that are inputs. */
  readonly window: number;
  readonly batchesPerEpoch: number;
  private cachedEpoch = -1;
  private cachedOrder = new Uint32Array(0);

  constructor(
    readonly windows: readonly ArrayLike<number>[],
    /** B: windows per step. */
    readonly batch: number,
    readonly seed: number,
  ) {
    if (windows.length === 0) throw new RangeError('distillation needs at least one window of tokens');
    const length = windows[0].length;
    if (length < 2 || windows.some((w) => w.length !== length)) throw new RangeError(`every window needs the same length of at least 2 tokens (got ${length})`);
    if (!Number.isInteger(batch) || batch < 1 || batch > windows.length) {
      throw new RangeError(`a step takes ${batch} windows but there are ${windows.length}; give more samples or a smaller batch`);
    }
    this.window = length - 1;
    this.batchesPerEpoch = Math.floor(windows.length / batch);
  }

  private epochOrder(epoch: number): Uint32Array {
    if (epoch !== this.cachedEpoch) {
      const rng = createRng((Math.imul(this.seed, 0x9e3779b1) + Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
      const order = Uint32Array.from({ length: this.windows.length }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      this.cachedOrder = order;
      this.cachedEpoch = epoch;
    }
    return this.cachedOrder;
  }

  /** The batch of step `step` (from 0). */
  batchAt(step: number): DistillBatch {
    const S = this.window;
    const ids = new Uint32Array(this.batch * S);
    for (const [b, index] of this.windowsAt(step).entries()) {
      const w = this.windows[index];
      for (let s = 0; s < S; s++) ids[b * S + s] = w[s];
    }
    return { epoch: Math.floor(step / this.batchesPerEpoch), ids };
  }

  /** The indices into `windows` of step `step`'s B windows, in batch order. */
  windowsAt(step: number): Uint32Array {
    const B = this.batch;
    const order = this.epochOrder(Math.floor(step / this.batchesPerEpoch));
    const within = step % this.batchesPerEpoch;
    return order.slice(within * B, within * B + B);
  }
}
