import { describe, expect, it } from 'vitest';
import { GATE_BINS, HEALTH_BINS } from '../../src/api/lab.ts';
import { binOf, expertLoad, routingDrift, summarizeLayer } from '../../src/lab/routing-summary.ts';

const NO = 0xffffffff;

/** Four tokens, top-2 of 4 experts; token 3 lost its second slot (a dropped expert). */
const record = {
  expertIds: Uint32Array.from([0, 1, 1, 2, 0, 2, 3, NO]),
  gates: Float32Array.from([0.7, 0.3, 0.55, 0.45, 0.9, 0.1, 1, 0]),
  entropy: Float32Array.from([0.1, 0.5, 1.0, Math.log(4)]),
  margin: Float32Array.from([0.4, 0.1, 0.8, 1]),
};

describe('routing summary', () => {
  it('bins values on [0, max] with the top edge in the last bin', () => {
    expect(binOf(0, 1, 20)).toBe(0);
    expect(binOf(-1, 1, 20)).toBe(0);
    expect(binOf(NaN, 1, 20)).toBe(0);
    expect(binOf(0.05, 1, 20)).toBe(1);
    expect(binOf(0.0499, 1, 20)).toBe(0);
    expect(binOf(1, 1, 20)).toBe(19);
    expect(binOf(2, 1, 20)).toBe(19);
  });

  it('counts load over assigned slots only', () => {
    expect(expertLoad(record.expertIds, 4)).toEqual([2 / 7, 2 / 7, 2 / 7, 1 / 7]);
    expect(expertLoad(Uint32Array.from([NO, NO]), 4)).toEqual([0, 0, 0, 0]);
  });

  it('summarizes gates, co-activation and router health', () => {
    const view = summarizeLayer(3, record, 4, 2);
    expect(view.layer).toBe(3);
    expect(view.gateHistogram[0][binOf(Math.fround(0.7), 1, GATE_BINS)]).toBe(1);
    expect(view.gateHistogram[0][binOf(Math.fround(0.9), 1, GATE_BINS)]).toBe(1);
    expect(view.gateHistogram[3][GATE_BINS - 1]).toBe(1);
    expect(view.gateHistogram.flat().reduce((a, b) => a + b, 0)).toBe(7);
    // Diagonal: tokens per expert; off-diagonal symmetric pairs.
    const co = (a: number, b: number) => view.coactivation[a * 4 + b];
    expect([co(0, 0), co(1, 1), co(2, 2), co(3, 3)]).toEqual([2, 2, 2, 1]);
    expect([co(0, 1), co(1, 0), co(1, 2), co(0, 2), co(2, 0), co(0, 3)]).toEqual([1, 1, 1, 1, 1, 0]);
    expect(view.entropyHistogram.reduce((a, b) => a + b, 0)).toBe(4);
    expect(view.entropyHistogram[HEALTH_BINS - 1]).toBe(1); // ln E: the top edge
    expect(view.marginHistogram[HEALTH_BINS - 1]).toBe(1);
    expect(view.meanEntropy).toBeCloseTo((0.1 + 0.5 + 1 + Math.log(4)) / 4, 6);
    expect(view.meanMargin).toBeCloseTo((0.4 + 0.1 + 0.8 + 1) / 4, 6);
  });

  it('measures drift: top-1 and set changes, gate distance', () => {
    const dense = summarizeLayer(0, record, 4, 2);
    expect(routingDrift(dense, dense, 4, 2)).toEqual({ layer: 0, top1Changed: 0, setChanged: 0, gateDistance: 0 });
    // Token 0 swaps its order (top-1 changes, set stays); token 1 moves to a new expert; others stay.
    const moved = {
      ...record,
      expertIds: Uint32Array.from([1, 0, 1, 3, 0, 2, 3, NO]),
      gates: Float32Array.from([0.7, 0.3, 0.55, 0.45, 0.9, 0.1, 1, 0]),
    };
    const drift = routingDrift(dense, summarizeLayer(0, moved, 4, 2), 4, 2);
    expect(drift.top1Changed).toBe(1 / 4);
    expect(drift.setChanged).toBe(1 / 4);
    // Token 0: |0.7-0.3| + |0.3-0.7| = 0.8; token 1: 0.45 + 0.45 = 0.9.
    expect(drift.gateDistance).toBeCloseTo((0.8 + 0.9) / 4, 6);
  });
});
