/** Mean next-token NLL and perplexity, accumulated window by window in f64 (pure, no GPU). */
import type { EvalWindow } from './windows.ts';

export interface PerplexityResult {
  /** Tokens scored. */
  tokens: number;
  /** Mean NLL in nats. */
  nll: number;
  /** exp(nll). */
  ppl: number;
}

export class NllAccumulator {
  private sum = 0;
  private count = 0;

  /**
   * Adds a window's scored tokens, given the forward's per-position NLL of that window (`nll[j - 1]` is the NLL of
   * token j predicted from positions <= j - 1; `offset` is where the window starts in `nll`).
   */
  addWindow(window: EvalWindow, nll: ArrayLike<number>, offset = 0): void {
    for (let j = window.firstScored; j < window.length; j++) {
      const value = nll[offset + j - 1];
      if (!Number.isFinite(value)) throw new RangeError(`NLL of token ${window.start + j} is ${value}`);
      this.sum += value;
      this.count++;
    }
  }

  result(): PerplexityResult {
    if (this.count === 0) throw new RangeError('no token was scored (give at least two tokens)');
    const nll = this.sum / this.count;
    return { tokens: this.count, nll, ppl: Math.exp(nll) };
  }
}
