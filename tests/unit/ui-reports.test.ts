import { describe, expect, it } from 'vitest';
import type { EvaluateReport, PruneSummary } from '../../src/api/lab.ts';
import { decodeExperiment } from '../../src/engine/experiment/url.ts';
import { initialLabState, type SweepResult } from '../../src/state/store.ts';
import { csv, csvField, experimentReport, perplexityCsv, sparsityCsv, sweepCsv } from '../../src/ui/lab/reports.ts';
import { parseSparsities } from '../../src/ui/lab/SweepView.tsx';

describe('CSV and JSON reports', () => {
  it('quotes fields as RFC 4180 says', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField(0.5)).toBe('0.5');
    expect(csvField(NaN)).toBe('');
    expect(csv(['a', 'b'], [[1, 'x,y']])).toBe('a,b\r\n1,"x,y"\r\n');
  });

  it('writes perplexity per model and genre', () => {
    const report: EvaluateReport = {
      text: { kind: 'corpus', id: 'brown-heldout' },
      ctx: 64,
      seconds: 1,
      results: [
        { variant: 'dense', overall: { tokens: 10, nll: 1, ppl: Math.E }, genres: [{ id: 'news', name: 'Press: reportage', tokens: 10, nll: 1, ppl: Math.E }] },
        {
          variant: 'pruned',
          overall: { tokens: 10, nll: 2, ppl: Math.E ** 2 },
          genres: [{ id: 'news', name: 'Press: reportage', tokens: 10, nll: 2, ppl: Math.E ** 2 }],
        },
      ],
      fidelity: {
        overall: { tokens: 10, kl: 0.25, top1Agreement: 0.5, windows: 1, windowsAgreeing: 0, firstDisagreementMean: 3, firstDisagreementMedian: 3 },
        genres: [
          {
            id: 'news',
            name: 'Press: reportage',
            tokens: 10,
            kl: 0.25,
            top1Agreement: 0.5,
            windows: 1,
            windowsAgreeing: 0,
            firstDisagreementMean: 3,
            firstDisagreementMedian: 3,
          },
        ],
      },
    };
    expect(perplexityCsv(report).split('\r\n')).toEqual([
      'model,genre,tokens,mean_nll,perplexity,kl_vs_dense,top1_agreement',
      `dense,all,10,1,${Math.E},,`,
      `dense,news,10,1,${Math.E},,`,
      `pruned,all,10,2,${Math.E ** 2},0.25,0.5`,
      `pruned,news,10,2,${Math.E ** 2},0.25,0.5`,
      '',
    ]);
  });

  it('writes sweep points after the dense reference, and sparsity per matrix and expert', () => {
    const sweep: SweepResult = {
      methods: ['wanda'],
      sparsities: [0.5],
      dense: { tokens: 5, nll: 1, ppl: 2.5 },
      points: [
        {
          method: 'wanda',
          sparsity: 0.5,
          achieved: 0.5,
          perplexity: { tokens: 5, nll: 2, ppl: 7 },
          fidelity: { tokens: 5, kl: 0.5, top1Agreement: 0.8, windows: 1, windowsAgreeing: 0, firstDisagreementMean: 1, firstDisagreementMedian: 1 },
        },
      ],
    };
    expect(sweepCsv(sweep).split('\r\n').slice(1, 3)).toEqual(['dense,0,0,5,1,2.5,0,1,', 'wanda,0.5,0.5,5,2,7,0.5,0.8,']);
    const prune: PruneSummary = {
      method: 'moe-pruner',
      calibration: null,
      overall: { name: 'all', weights: 100, pruned: 50 },
      seconds: 1,
      layers: [
        {
          layer: 0,
          target: 0.5,
          matrices: [{ name: 'experts.gate', weights: 40, pruned: 20 }],
          experts: [
            { name: 'expert 0', weights: 10, pruned: 10 },
            { name: 'expert 1', weights: 10, pruned: 4 },
          ],
          droppedExperts: [0],
        },
      ],
    };
    expect(sparsityCsv(prune).split('\r\n').slice(1, 4)).toEqual([
      '0,experts.gate,,40,20,0.5,0.5',
      '0,expert,0 (dropped),10,10,1,0.5',
      '0,expert,1,10,4,0.4,0.5',
    ]);
  });

  it('puts the share link that reproduces the experiment in the JSON report', () => {
    const state = initialLabState();
    state.experiment.prune.method = 'wanda';
    const report = experimentReport(state, 'http://lab.test/app/#old');
    expect(report.format).toBe('moe-lab-experiment-report/1');
    const link = String(report.link);
    expect(link.startsWith('http://lab.test/app/#v=1&')).toBe(true);
    expect(decodeExperiment(link.slice(link.indexOf('#'))).experiment).toEqual(state.experiment);
  });

  it('reads sweep sparsities from free text', () => {
    expect(parseSparsities('0.5, 0.25 0.75;50% 0.99 -1 x')).toEqual([0.25, 0.5, 0.75]);
    expect(parseSparsities('')).toEqual([]);
  });
});
