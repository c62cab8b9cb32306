/**
 * The sweep chart's metric choice: perplexity (log scale, dense line), the fidelity of each point to the dense model,
 * or BLiMP accuracy (for a sweep that scored the Benchmarks step's items, dense line); the CSV's accuracy column.
 */
import { describe, expect, it } from 'vitest';
import type { SweepResult } from '../../src/state/store.ts';
import { sweepChartData } from '../../src/ui/lab/SweepView.tsx';
import { sweepCsv } from '../../src/ui/lab/reports.ts';

const fidelity = (kl: number, top1Agreement: number) => ({
  tokens: 5,
  kl,
  top1Agreement,
  windows: 1,
  windowsAgreeing: 0,
  firstDisagreementMean: 1,
  firstDisagreementMedian: 1,
});
const result: SweepResult = {
  methods: ['wanda', 'magnitude'],
  sparsities: [0.25, 0.5],
  dense: { tokens: 5, nll: 1, ppl: 2.5 },
  points: [
    { method: 'wanda', sparsity: 0.25, achieved: 0.25, perplexity: { tokens: 5, nll: 1.1, ppl: 3 }, fidelity: fidelity(0.01, 0.95) },
    { method: 'wanda', sparsity: 0.5, achieved: 0.5, perplexity: { tokens: 5, nll: 1.5, ppl: 4.5 }, fidelity: fidelity(0.05, 0.8) },
    { method: 'magnitude', sparsity: 0.25, achieved: 0.25, perplexity: { tokens: 5, nll: 1.2, ppl: 3.3 }, fidelity: fidelity(0.02, 0.9) },
  ],
};

describe('sweepChartData', () => {
  it('plots perplexity on a log scale with the dense reference by default', () => {
    const data = sweepChartData(result);
    expect(data.series.map((s) => s.points.map((p) => p.y))).toEqual([[3, 4.5], [3.3]]);
    expect(data).toMatchObject({ logY: true, reference: { y: 2.5, label: 'dense' }, yTitle: 'perplexity' });
  });

  it('plots KL or top-1 agreement per point on a linear scale without the perplexity line', () => {
    const kl = sweepChartData(result, 'kl');
    expect(kl.series.map((s) => s.points.map((p) => p.y))).toEqual([[0.01, 0.05], [0.02]]);
    expect(kl).toMatchObject({ logY: false, reference: undefined });
    const top1 = sweepChartData(result, 'top1');
    expect(top1.series[0].points.map((p) => p.y)).toEqual([0.95, 0.8]);
    expect(top1.formatY!(0.8)).toBe('80%');
  });

  it('plots BLiMP accuracy per point with the dense accuracy as reference, and the CSV gains its column', () => {
    expect(sweepCsv(result).split('\r\n')[0]).not.toContain('blimp_accuracy');
    const scored: SweepResult = {
      ...result,
      denseBenchmark: 0.6,
      points: result.points.map((p, i) => (i < 2 ? { ...p, benchmark: { accuracy: 0.55 - 0.05 * i, items: 67 } } : p)),
    };
    const data = sweepChartData(scored, 'blimp');
    // The magnitude point has no accuracy (a sweep stopped before scoring it): left out, not drawn as 0.
    expect(data.series.map((s) => s.points.map((p) => p.y))).toEqual([[0.55, 0.5], []]);
    expect(data).toMatchObject({ logY: false, reference: { y: 0.6, label: 'dense' }, yTitle: 'BLiMP accuracy' });
    const rows = sweepCsv(scored).split('\r\n');
    expect(rows[0]).toBe('method,sparsity,achieved_sparsity,tokens,mean_nll,perplexity,kl_vs_dense,top1_agreement,blimp_accuracy');
    expect(rows[1]).toBe('dense,0,0,5,1,2.5,0,1,0.6');
    expect(rows[3]).toBe('wanda,0.5,0.5,5,1.5,4.5,0.05,0.8,0.5');
    expect(rows[4].endsWith(',')).toBe(true);
  });
});
