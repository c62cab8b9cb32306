/**
 * Perplexity math (src/engine/eval/perplexity.ts) on the CPU reference forward: one window over a fixture's ids
 * reproduces transformers' shifted cross-entropy (reference.json), and windowed runs score each token once.
 */
import { describe, expect, it } from 'vitest';
import { NllAccumulator } from '../../src/engine/eval/perplexity.ts';
import { planWindows } from '../../src/engine/eval/windows.ts';
import { parseTokenIds } from '../../src/engine/eval/ids.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { nllOfRow } from '../../src/engine/reference/ops.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { openFixture, readFixtureReference } from '../helpers/fixtures.ts';

describe('NllAccumulator', () => {
  it('averages the scored positions of each window (nll[j - 1] scores token j)', () => {
    const acc = new NllAccumulator();
    acc.addWindow({ start: 0, length: 3, firstScored: 1 }, [1, 2, NaN]);
    acc.addWindow({ start: 3, length: 4, firstScored: 2 }, [9, 9, 9, 9, 4, 6, NaN], 3);
    const r = acc.result();
    expect(r.tokens).toBe(4);
    expect(r.nll).toBeCloseTo((1 + 2 + 4 + 6) / 4, 12);
    expect(r.ppl).toBeCloseTo(Math.exp(13 / 4), 9);
  });

  it('refuses an empty evaluation and a non-finite NLL', () => {
    expect(() => new NllAccumulator().result()).toThrow(/no token was scored/);
    expect(() => new NllAccumulator().addWindow({ start: 5, length: 2, firstScored: 1 }, [Infinity, NaN])).toThrow(/token 6 is Infinity/);
  });
});

describe('perplexity on the reference forward', () => {
  it('one window over the ids equals transformers mean NLL; strided windows stay close', async () => {
    const checkpoint = await openFixture('olmoe');
    const ref = await readFixtureReference('olmoe');
    const weights = await loadReferenceWeights(checkpoint);
    const V = checkpoint.spec.vocabSize;
    const run = (ctx: number, stride: number) => {
      const acc = new NllAccumulator();
      for (const w of planWindows(ref.inputIds.length, ctx, stride).windows) {
        const ids = ref.inputIds.slice(w.start, w.start + w.length);
        const { logits } = referenceForward(weights, ids);
        const nll = ids.slice(1).map((target, j) => nllOfRow(logits, j * V, V, target));
        acc.addWindow(w, nll);
      }
      return acc.result();
    };
    const whole = run(ref.inputIds.length, ref.inputIds.length);
    expect(whole.tokens).toBe(ref.inputIds.length - 1);
    expect(Math.abs(whole.nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-4);
    expect(Math.abs(whole.ppl - ref.perplexity) / ref.perplexity).toBeLessThan(1e-3);
    const strided = run(32, 16);
    expect(strided.tokens).toBe(ref.inputIds.length - 1);
    expect(Math.abs(strided.nll - whole.nll)).toBeLessThan(0.2);
    expect(run(32, 32).tokens).toBe(ref.inputIds.length - 3);
  });
});

describe('parseTokenIds', () => {
  it('accepts a JSON array of ids below the vocabulary and names the file and entry otherwise', () => {
    expect(parseTokenIds('a.json', '[0, 5, 9]', 10)).toEqual([0, 5, 9]);
    expect(() => parseTokenIds('a.json', '[0, 10]', 10)).toThrow(/a\.json: entry 1 \(10\) is not a token id in 0\.\.9/);
    expect(() => parseTokenIds('a.json', '[0, 1.5]', 10)).toThrow(/entry 1/);
    expect(() => parseTokenIds('a.json', '{"ids": [1]}', 10)).toThrow(/a\.json: expected a non-empty JSON array/);
    expect(() => parseTokenIds('a.json', '[1,', 10)).toThrow(/a\.json: not valid JSON/);
  });
});
