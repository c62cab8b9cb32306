/**
 * The sweep chart's metric choice: perplexity (log scale, dense line), the fidelity of each point to the dense model,
 * or BLiMP accuracy (for a sweep that scored the Benchmarks step's items, dense line); the CSV's accuracy column;
 * against bytes on disk, one line per method with the dense model as a reference point, and the CSV's bytes column.
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
    expect(rows[0]).toBe('method,sparsity,achieved_sparsity,tokens,mean_nll,perplexity,kl_vs_dense,top1_agreement,disk_bytes,blimp_accuracy');
    // Points without the accounting leave disk_bytes empty.
    expect(rows[1]).toBe('dense,0,0,5,1,2.5,0,1,,0.6');
    expect(rows[3]).toBe('wanda,0.5,0.5,5,1.5,4.5,0.05,0.8,,0.5');
    expect(rows[4].endsWith(',')).toBe(true);
  });

  // Neuron pruning shrinks the export (wanda here); masks keep the dense size (magnitude: a vertical line).
  const DENSE = 4096;
  const sized: SweepResult = {
    ...result,
    points: result.points.map((p) => ({ ...p, diskBytes: { dense: DENSE, pruned: p.method === 'wanda' ? DENSE * (1 - p.sparsity / 2) : DENSE } })),
  };

  it('plots against bytes on disk: one line per method and the dense model as a reference point', () => {
    const data = sweepChartData(sized, 'ppl', 'bytes');
    expect(data.series.map((s) => s.name)).toEqual(['wanda', 'magnitude', 'dense']);
    expect(data.series.map((s) => s.points)).toEqual([
      [
        { x: 3584, y: 3 },
        { x: 3072, y: 4.5 },
      ],
      [{ x: DENSE, y: 3.3 }],
      [{ x: DENSE, y: 2.5 }],
    ]);
    expect(data).toMatchObject({ xTitle: 'bytes on disk', logY: true, reference: undefined, xDomain: [0, 1.05 * DENSE] });
    expect(data.formatX!(3072)).toBe('3.0 KiB');
    // Fidelity metrics: the dense model agrees with itself (KL 0, top-1 100%).
    expect(sweepChartData(sized, 'kl', 'bytes').series[2].points).toEqual([{ x: DENSE, y: 0 }]);
    expect(sweepChartData(sized, 'top1', 'bytes').series[2].points).toEqual([{ x: DENSE, y: 1 }]);
    // Points without bytes (a sweep from before the accounting) are left out, and no dense point is drawn.
    expect(sweepChartData(result, 'ppl', 'bytes').series.map((s) => s.points)).toEqual([[], []]);
  });

  it("writes each point's bytes on disk and the dense model's in the CSV", () => {
    const rows = sweepCsv(sized).split('\r\n');
    expect(rows[0]).toBe('method,sparsity,achieved_sparsity,tokens,mean_nll,perplexity,kl_vs_dense,top1_agreement,disk_bytes');
    expect(rows.slice(1, 5).map((r) => r.split(',').at(-1))).toEqual(['4096', '3584', '3072', '4096']);
  });

  it('draws round-to-nearest points as one more line against bytes only, and the CSV gains quant_bits', () => {
    const rtn = (bits: 8 | 4, ppl: number) => ({
      method: 'rtn' as const,
      bits,
      sparsity: 0,
      achieved: 0,
      perplexity: { tokens: 5, nll: Math.log(ppl), ppl },
      fidelity: fidelity(0.01, 0.9),
      diskBytes: { dense: DENSE, pruned: (DENSE * bits) / 16 },
    });
    const quantized: SweepResult = { ...sized, quantBits: [8, 4], points: [...sized.points, rtn(8, 2.6), rtn(4, 2.9)] };
    const bytes = sweepChartData(quantized, 'ppl', 'bytes');
    expect(bytes.series.map((s) => s.name)).toEqual(['wanda', 'magnitude', 'rtn', 'dense']);
    expect(bytes.series[2].points).toEqual([
      { x: 2048, y: 2.6 },
      { x: 1024, y: 2.9 },
    ]);
    // Against sparsity a quantization has no x: the line is empty, not piled up at 0%.
    expect(sweepChartData(quantized).series[2].points).toEqual([]);
    const rows = sweepCsv(quantized).split('\r\n');
    expect(rows[0].endsWith(',disk_bytes,quant_bits')).toBe(true);
    expect(rows[1].endsWith(',4096,')).toBe(true);
    expect(rows.slice(4, 7)).toEqual([
      'magnitude,0.25,0.25,5,1.2,3.3,0.02,0.9,4096,',
      `rtn,0,0,5,${Math.log(2.6)},2.6,0.01,0.9,2048,8`,
      `rtn,0,0,5,${Math.log(2.9)},2.9,0.01,0.9,1024,4`,
    ]);
  });
});
