/** The fidelity reference (KL and argmax of one position) and the accumulator over perplexity windows. */
import { describe, expect, it } from 'vitest';
import { FidelityAccumulator } from '../../src/engine/eval/fidelity.ts';
import { planWindows } from '../../src/engine/eval/windows.ts';
import { argmaxLowest, fidelityOfRow } from '../../src/engine/reference/eval/fidelity.ts';

describe('fidelityOfRow', () => {
  it('gives KL(p || q) in nats for a hand-computed pair', () => {
    // p = (1/2, 1/2), q = (1/4, 3/4): KL = 1/2 ln 2 + 1/2 ln(2/3).
    const { kl } = fidelityOfRow([0, 0], [0, Math.log(3)], 0, 2);
    expect(kl).toBeCloseTo(0.5 * Math.log(2) + 0.5 * Math.log(2 / 3), 14);
    // Not symmetric: KL(q || p) = 1/4 ln(1/2) + 3/4 ln(3/2).
    expect(fidelityOfRow([0, Math.log(3)], [0, 0], 0, 2).kl).toBeCloseTo(0.25 * Math.log(0.5) + 0.75 * Math.log(1.5), 14);
  });

  it('is 0 for equal rows and for rows that differ by a constant (the same distribution)', () => {
    const row = [1.5, -2, 30, 7];
    expect(fidelityOfRow(row, row, 0, 4).kl).toBe(0);
    expect(
      Math.abs(
        fidelityOfRow(
          row,
          row.map((v) => v - 50),
          0,
          4,
        ).kl,
      ),
    ).toBeLessThan(1e-12);
  });

  it('reads the row at its offset and breaks argmax ties toward the lowest id', () => {
    expect(argmaxLowest([9, 9, 1, 3, 3], 2, 3)).toBe(1);
    expect(argmaxLowest([0, 0, 0], 0, 3)).toBe(0);
    const r = fidelityOfRow([0, 0, 5, 1, 5], [0, 0, 2, 4, 4], 2, 3);
    expect([r.denseTop, r.prunedTop]).toEqual([0, 1]);
  });
});

describe('FidelityAccumulator', () => {
  // 3 windows of 4 tokens over 11 tokens (the last has 3): rows j - 1 for j = 1..3 (1..2 in the last).
  const plan = planWindows(11, 4);

  function rows(agree: boolean[][]): { kl: number[]; denseTop: number[]; prunedTop: number[] }[] {
    return agree.map((w) => ({
      kl: [...w.map((_, i) => 0.1 * (i + 1)), 0],
      denseTop: [...w.map(() => 7), 0],
      prunedTop: [...w.map((a) => (a ? 7 : 8)), 0],
    }));
  }

  it('averages KL and agreement over the scored positions and finds each window first disagreement', () => {
    expect(plan.windows.map((w) => w.length)).toEqual([4, 4, 3]);
    const acc = new FidelityAccumulator();
    const perWindow = rows([
      [true, false, false],
      [true, true, true],
      [false, true],
    ]);
    plan.windows.forEach((w, i) => acc.addWindow(w, perWindow[i]));
    const r = acc.result();
    expect(r.tokens).toBe(8);
    expect(r.kl).toBeCloseTo((0.6 + 0.6 + 0.3) / 8, 14);
    expect(r.top1Agreement).toBe(5 / 8);
    expect(r.windows).toBe(3);
    expect(r.windowsAgreeing).toBe(1);
    // Firsts: 1 and 0 -> mean 0.5, median of two = their mean.
    expect(r.firstDisagreementMean).toBe(0.5);
    expect(r.firstDisagreementMedian).toBe(0.5);
  });

  it('counts only the scored positions of overlapping windows, numbered from the first scored', () => {
    // ctx 4, stride 2 over 6 tokens: window 0 scores 1..3, window 1 (start 2) scores positions 2..3 only.
    const overlapping = planWindows(6, 4, 2);
    expect(overlapping.windows[1].firstScored).toBe(2);
    const acc = new FidelityAccumulator();
    acc.addWindow(overlapping.windows[0], { kl: [0, 0, 0, 0], denseTop: [1, 1, 1, 0], prunedTop: [1, 1, 1, 0] });
    // Row 0 (predicting position 1) disagrees but is not scored; row 2 (position 3) is the second scored prediction.
    acc.addWindow(overlapping.windows[1], { kl: [9, 0, 0, 0], denseTop: [1, 1, 1, 0], prunedTop: [2, 1, 2, 0] });
    const r = acc.result();
    expect(r.tokens).toBe(5);
    expect(r.kl).toBe(0);
    expect(r.top1Agreement).toBe(4 / 5);
    expect([r.windowsAgreeing, r.firstDisagreementMean, r.firstDisagreementMedian]).toEqual([1, 1, 1]);
  });

  it('merges accumulators as if their windows were added to one, and reports no first disagreement when all agree', () => {
    const [a, b, both] = [new FidelityAccumulator(), new FidelityAccumulator(), new FidelityAccumulator()];
    const perWindow = rows([
      [false, true, true],
      [true, true, true],
      [true, false],
    ]);
    plan.windows.forEach((w, i) => (i < 2 ? a : b).addWindow(w, perWindow[i]));
    plan.windows.forEach((w, i) => both.addWindow(w, perWindow[i]));
    a.merge(b);
    expect(a.result()).toEqual(both.result());
    expect(both.result().firstDisagreementMedian).toBe(0.5);
    const agreeing = new FidelityAccumulator();
    agreeing.addWindow(plan.windows[1], perWindow[1]);
    expect(agreeing.result()).toMatchObject({ windowsAgreeing: 1, firstDisagreementMean: null, firstDisagreementMedian: null, top1Agreement: 1 });
    expect(() => new FidelityAccumulator().result()).toThrow(/no token/);
  });
});
