/** Evaluation windows (src/engine/eval/windows.ts): Hugging Face's strided convention, non-overlapping by default. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { planWindows } from '../../src/engine/eval/windows.ts';

/** How many times each stream position is scored. */
function coverage(total: number, ctx: number, stride: number): number[] {
  const scored = new Array<number>(total).fill(0);
  for (const w of planWindows(total, ctx, stride).windows) for (let j = w.firstScored; j < w.length; j++) scored[w.start + j]++;
  return scored;
}

/** Hugging Face's perplexity loop (docs "Perplexity of fixed-length models"), transcribed: scored positions. */
function huggingFaceScored(total: number, ctx: number, stride: number): number[] {
  const scored: number[] = [];
  let previousEnd = 0;
  for (let begin = 0; begin < total; begin += stride) {
    const end = Math.min(begin + ctx, total);
    const targetLength = end - previousEnd;
    // labels[:, :-trg_len] = -100, then the model shifts labels by one: position 0 of the window is never a label.
    for (let j = Math.max(1, end - begin - targetLength); j < end - begin; j++) scored.push(begin + j);
    previousEnd = end;
    if (end === total) break;
  }
  return scored;
}

describe('planWindows', () => {
  it('cuts non-overlapping windows by default, keeps a short tail, and never scores a window first token', () => {
    const plan = planWindows(10, 4);
    expect(plan.windows).toEqual([
      { start: 0, length: 4, firstScored: 1 },
      { start: 4, length: 4, firstScored: 1 },
      { start: 8, length: 2, firstScored: 1 },
    ]);
    expect(plan.predictions).toBe(10 - 3);
    // A one-token tail predicts nothing and is left out.
    expect(planWindows(9, 4).windows.map((w) => w.length)).toEqual([4, 4]);
    expect(planWindows(9, 4).predictions).toBe(6);
  });

  it('with stride < ctx scores only the tokens the previous window did not reach: every token but the first once', () => {
    const plan = planWindows(10, 4, 2);
    expect(plan.windows).toEqual([
      { start: 0, length: 4, firstScored: 1 },
      { start: 2, length: 4, firstScored: 2 },
      { start: 4, length: 4, firstScored: 2 },
      { start: 6, length: 4, firstScored: 2 },
    ]);
    expect(coverage(10, 4, 2)).toEqual([0, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('scores exactly the positions of Hugging Face strided perplexity loop (random sizes)', () => {
    const rng = createRng(2);
    for (let trial = 0; trial < 200; trial++) {
      const total = 1 + rng.int(60);
      const ctx = 2 + rng.int(12);
      const stride = 1 + rng.int(ctx);
      const ours = coverage(total, ctx, stride).flatMap((n, i) => new Array<number>(n).fill(i));
      expect(ours, `N ${total} ctx ${ctx} stride ${stride}`).toEqual(huggingFaceScored(total, ctx, stride));
      expect(planWindows(total, ctx, stride).predictions).toBe(ours.length);
    }
  });

  it('refuses a context below 2 and a stride outside 1..ctx', () => {
    expect(() => planWindows(10, 1)).toThrow(/context length/);
    expect(() => planWindows(10, 4, 5)).toThrow(/stride must be an integer in 1..4/);
    expect(() => planWindows(10, 4, 0)).toThrow(/stride/);
  });
});
