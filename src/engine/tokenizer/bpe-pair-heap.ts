/**
 * Max-heap of (pair, count) for the BPE trainer, with lazy deletion: an entry may hold a count that is out of
 * date; the trainer re-checks it against the live count when it pops (as the Hugging Face trainer does), so a
 * count never needs to be found and lowered inside the heap.
 *
 * Order: larger count first; equal counts -> smaller pair key first, i.e. the pair whose left id, then right id,
 * is smaller (ids grow with the order tokens entered the vocabulary). That makes training deterministic.
 */
export class PairHeap {
  private readonly keys: number[] = [];
  private readonly counts: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(key: number, count: number): void {
    this.keys.push(key);
    this.counts.push(count);
    this.siftUp(this.keys.length - 1);
  }

  /** Removes and returns the top entry, or undefined when empty. */
  pop(): { key: number; count: number } | undefined {
    const n = this.keys.length;
    if (n === 0) return undefined;
    const top = { key: this.keys[0], count: this.counts[0] };
    const lastKey = this.keys.pop()!;
    const lastCount = this.counts.pop()!;
    if (n > 1) {
      this.keys[0] = lastKey;
      this.counts[0] = lastCount;
      this.siftDown(0);
    }
    return top;
  }

  private before(i: number, j: number): boolean {
    return this.counts[i] > this.counts[j] || (this.counts[i] === this.counts[j] && this.keys[i] < this.keys[j]);
  }

  private swap(i: number, j: number): void {
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
    [this.counts[i], this.counts[j]] = [this.counts[j], this.counts[i]];
  }

  private siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private siftDown(i: number): void {
    const n = this.keys.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < n && this.before(left, best)) best = left;
      if (right < n && this.before(right, best)) best = right;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }
}
