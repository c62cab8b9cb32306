/** The generation's token choice (src/gpu/eval/generate.ts chooseToken): greedy ties, seeded sampling, temperature. */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/engine/random.ts';
import { chooseToken } from '../../src/gpu/eval/generate.ts';

describe('choosing the next token', () => {
  it('greedy takes the largest logit, the lowest id among equal ones', () => {
    expect(chooseToken([0.1, 3, 2, 3], { kind: 'greedy' }, null)).toBe(1);
    expect(chooseToken([-Infinity, -1], { kind: 'greedy' }, null)).toBe(1);
  });

  it('sampling follows softmax(logits / T) and repeats with the seed', () => {
    const logits = [Math.log(1), Math.log(2), Math.log(7)];
    const sampling = { kind: 'sample' as const, seed: 0, temperature: 1 };
    const rng = createRng(11);
    const counts = [0, 0, 0];
    for (let i = 0; i < 20000; i++) counts[chooseToken(logits, sampling, rng)]++;
    // Probabilities 0.1, 0.2, 0.7: within 4 standard deviations of 20000 draws.
    for (const [v, p] of [0.1, 0.2, 0.7].entries()) expect(Math.abs(counts[v] / 20000 - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / 20000));
    const draw = (seed: number) =>
      Array.from(
        { length: 10 },
        (
          (rng) => () =>
            chooseToken(logits, sampling, rng)
        )(createRng(seed)),
      );
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });

  it('a low temperature approaches greedy; masked logits are never drawn', () => {
    const rng = createRng(1);
    for (let i = 0; i < 200; i++) expect(chooseToken([1, 1.5, -Infinity], { kind: 'sample', seed: 0, temperature: 0.01 }, rng)).toBe(1);
    expect(() => chooseToken([1], { kind: 'sample', seed: 0, temperature: 0 }, createRng(0))).toThrow('temperature must be a positive number');
  });
});
