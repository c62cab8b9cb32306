/**
 * Seeded data order over a token stream. The stream (all training documents, each followed by the end-of-text
 * token) is cut into non-overlapping windows of S + 1 tokens (S inputs, the next S tokens as targets); each epoch
 * shifts the cut by a seeded offset in [0, S) and visits the windows in a seeded permutation. Batch b of the run is a
 * pure function of (stream, S, B, seed, b): a resumed run sees exactly the batches it would have seen.
 */
import { createRng } from '../random.ts';

export interface Batch {
  /** Global index of the first window (epoch * windowsPerEpoch + position in the epoch). */
  index: number;
  epoch: number;
  ids: Uint32Array; // [B * S] inputs
  targets: Uint32Array; // [B * S] next tokens
}

export interface DataOrderOptions {
  window: number; // S
  batch: number; // B windows per step
  seed: number;
}

export class DataOrder {
  readonly windowsPerEpoch: number;
  readonly batchesPerEpoch: number;
  private cachedEpoch = -1;
  private cachedOrder: Uint32Array = new Uint32Array(0);
  private cachedShift = 0;

  constructor(
    readonly stream: Uint32Array,
    readonly options: DataOrderOptions,
  ) {
    const { window: S, batch: B } = options;
    // One window fewer than fits, so that every shift in [0, S) still leaves room for all of them.
    this.windowsPerEpoch = Math.floor((stream.length - 1) / S) - 1;
    this.batchesPerEpoch = Math.floor(this.windowsPerEpoch / B);
    if (this.batchesPerEpoch < 1) {
      throw new RangeError(`training data: ${stream.length} tokens make fewer than ${B} windows of ${S + 1} tokens`);
    }
  }

  /** Window order and shift of an epoch (Fisher-Yates with an RNG seeded by seed and epoch). */
  private epochPlan(epoch: number): { order: Uint32Array; shift: number } {
    if (epoch !== this.cachedEpoch) {
      const rng = createRng((this.options.seed * 0x9e3779b1 + epoch * 0x85ebca6b) >>> 0);
      const order = Uint32Array.from({ length: this.windowsPerEpoch }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [order[i], order[j]] = [order[j], order[i]];
      }
      this.cachedShift = epoch === 0 ? 0 : rng.int(this.options.window);
      this.cachedOrder = order;
      this.cachedEpoch = epoch;
    }
    return { order: this.cachedOrder, shift: this.cachedShift };
  }

  /** The step-th batch (from 0); the last incomplete batch of an epoch is skipped. */
  batch(step: number): Batch {
    const { window: S, batch: B } = this.options;
    const epoch = Math.floor(step / this.batchesPerEpoch);
    const within = step % this.batchesPerEpoch;
    const { order, shift } = this.epochPlan(epoch);
    const ids = new Uint32Array(B * S);
    const targets = new Uint32Array(B * S);
    for (let b = 0; b < B; b++) {
      const start = shift + order[within * B + b] * S;
      ids.set(this.stream.subarray(start, start + S), b * S);
      targets.set(this.stream.subarray(start + 1, start + S + 1), b * S);
    }
    return { index: epoch * this.windowsPerEpoch + within * B, epoch, ids, targets };
  }
}

/** Consecutive windows of S + 1 tokens over a stream (evaluation: every window once, in order). */
export function evaluationWindows(stream: Uint32Array, window: number, batch: number): { ids: Uint32Array; targets: Uint32Array; windows: number }[] {
  const count = Math.floor((stream.length - 1) / window);
  const batches = [];
  for (let first = 0; first + batch <= count; first += batch) {
    const ids = new Uint32Array(batch * window);
    const targets = new Uint32Array(batch * window);
    for (let b = 0; b < batch; b++) {
      const start = (first + b) * window;
      ids.set(stream.subarray(start, start + window), b * window);
      targets.set(stream.subarray(start + 1, start + window + 1), b * window);
    }
    batches.push({ ids, targets, windows: batch });
  }
  return batches;
}

/**
 * Positions sorted by token id and the prefix counts per id, for the embedding backward (embedding.wgsl): a
 * counting sort, stable, so positions of one id stay ascending.
 */
export function positionsById(ids: Uint32Array, vocab: number): { order: Uint32Array; starts: Uint32Array } {
  const starts = new Uint32Array(vocab + 1);
  for (const id of ids) {
    if (id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
    starts[id + 1]++;
  }
  for (let v = 0; v < vocab; v++) starts[v + 1] += starts[v];
  const next = starts.slice(0, vocab);
  const order = new Uint32Array(ids.length);
  ids.forEach((id, position) => {
    order[next[id]++] = position;
  });
  return { order, starts };
}
