/**
 * Fidelity of a pruned model to its dense model on the perplexity windows (pure, no GPU): per scored position the
 * KL(p_dense || p_pruned) term and both models' most likely next token (shaders/eval/fidelity.wgsl), summed in f64
 * in window order over exactly the positions NllAccumulator scores.
 *
 * First disagreement: in each window, the scored predictions are numbered 0, 1, ... in order (prediction i of a
 * window scores token firstScored + i from the tokens before it; with non-overlapping windows, firstScored = 1, so
 * i is also the position of the last token the model has read). A window's first disagreement is the number i of
 * its first prediction whose top-1 token differs between the two models; a window whose top-1 tokens all agree
 * has none. Mean and median run over the windows that have one (median of an even count: the mean of the two
 * middle values).
 */
import type { EvalWindow } from './windows.ts';

export interface FidelityResult {
  /** Positions compared (the tokens perplexity scores). */
  tokens: number;
  /** Mean KL(p_dense || p_pruned) per predicted token, nats. */
  kl: number;
  /** Share of positions where both models' most likely next token is the same. */
  top1Agreement: number;
  /** Windows compared. */
  windows: number;
  /** Windows whose top-1 tokens agree at every scored position. */
  windowsAgreeing: number;
  /** Mean first disagreement (prediction index in its window) over the windows that disagree; null when none does. */
  firstDisagreementMean: number | null;
  /** Median of the same; null when no window disagrees. */
  firstDisagreementMedian: number | null;
}

/** Per position of a forward pass [T]: the KL term and both argmaxes (row j - 1 predicts token j). */
export interface FidelityRows {
  kl: ArrayLike<number>;
  denseTop: ArrayLike<number>;
  prunedTop: ArrayLike<number>;
}

export class FidelityAccumulator {
  private klSum = 0;
  private agreeing = 0;
  private count = 0;
  private windowCount = 0;
  /** First disagreement of each window that has one, in window order. */
  private readonly firsts: number[] = [];

  /** Adds a window's scored positions; `offset` is where the window starts in the rows. */
  addWindow(window: EvalWindow, rows: FidelityRows, offset = 0): void {
    let first: number | null = null;
    for (let j = window.firstScored; j < window.length; j++) {
      const row = offset + j - 1;
      const kl = rows.kl[row];
      if (!Number.isFinite(kl)) throw new RangeError(`KL at token ${window.start + j} is ${kl}`);
      this.klSum += kl;
      this.count++;
      if (rows.denseTop[row] === rows.prunedTop[row]) this.agreeing++;
      else first ??= j - window.firstScored;
    }
    this.windowCount++;
    if (first !== null) this.firsts.push(first);
  }

  /** Adds everything another accumulator holds (its windows after this one's): pooling genres. */
  merge(other: FidelityAccumulator): void {
    this.klSum += other.klSum;
    this.agreeing += other.agreeing;
    this.count += other.count;
    this.windowCount += other.windowCount;
    this.firsts.push(...other.firsts);
  }

  result(): FidelityResult {
    if (this.count === 0) throw new RangeError('no token was compared (give at least two tokens)');
    const sorted = [...this.firsts].sort((a, b) => a - b);
    const n = sorted.length;
    return {
      tokens: this.count,
      kl: this.klSum / this.count,
      top1Agreement: this.agreeing / this.count,
      windows: this.windowCount,
      windowsAgreeing: this.windowCount - n,
      firstDisagreementMean: n ? sorted.reduce((s, v) => s + v, 0) / n : null,
      firstDisagreementMedian: n ? (n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2) : null,
    };
  }
}
