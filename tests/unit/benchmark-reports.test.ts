/** The Benchmarks step's tables (src/ui/lab/benchmark-reports.ts): rows per task, field and term; flipped items; CSV. */
import { describe, expect, it } from 'vitest';
import { flippedItems, type BenchmarkItem, type BenchmarkReport, type BenchmarkTaskResult } from '../../src/api/benchmarks.ts';
import { accuracyRows, benchmarkCsv } from '../../src/ui/lab/benchmark-reports.ts';

const item = (line: number, correct: boolean, lls: number[]): BenchmarkItem => ({
  line,
  ids: [
    [0, 5],
    [0, 6],
  ],
  scored: [1, 1],
  logLikelihoods: lls,
  correct,
  uid: 'adjunct_island',
  pairId: String(line - 1),
});

function task(correct: boolean[]): BenchmarkTaskResult {
  const n = correct.filter(Boolean).length;
  return {
    name: 'blimp',
    file: 'blimp.jsonl',
    format: 'minimal-pairs',
    metric: 'acc',
    accuracy: n / correct.length,
    items: correct.length,
    correct: n,
    accNorm: null,
    fields: [{ name: 'syntax', items: correct.length, correct: n, accuracy: n / correct.length }],
    terms: [{ name: 'island_effects', items: correct.length, correct: n, accuracy: n / correct.length }],
    paradigms: [],
    perItem: correct.map((c, i) => item(i + 1, c, c ? [-1, -2] : [-2, -1])),
  };
}

const report: BenchmarkReport = {
  contextToken: { rule: 'bos', id: 0 },
  results: [
    { variant: 'dense', accuracy: 1, items: 2, tasks: [task([true, true])] },
    { variant: 'pruned', accuracy: 0.5, items: 2, tasks: [task([true, false])] },
  ],
  sequences: 4,
  tokens: 8,
  seconds: 0.1,
};

describe('benchmark reports', () => {
  it('accuracy per task, field and term for both variants', () => {
    expect(accuracyRows(report)).toEqual([
      { task: 'blimp', level: 'task', name: 'blimp', items: 2, accuracy: { dense: 1, pruned: 0.5 } },
      { task: 'blimp', level: 'field', name: 'syntax', items: 2, accuracy: { dense: 1, pruned: 0.5 } },
      { task: 'blimp', level: 'term', name: 'island_effects', items: 2, accuracy: { dense: 1, pruned: 0.5 } },
    ]);
  });

  it('flipped items: right under one model, wrong under the other; none without both variants', () => {
    const flipped = flippedItems(report);
    expect(flipped.map((f) => [f.dense.line, f.dense.correct, f.pruned.correct])).toEqual([[2, true, false]]);
    expect(flippedItems({ ...report, results: report.results.slice(0, 1) })).toEqual([]);
  });

  it('CSV: one row per item, both variants side by side', () => {
    expect(benchmarkCsv(report).split('\r\n')).toEqual([
      'task,line,paradigm,pair_id,dense_correct,dense_log_likelihoods,dense_correct_norm,pruned_correct,pruned_log_likelihoods,pruned_correct_norm',
      'blimp,1,adjunct_island,0,1,-1;-2,,1,-1;-2,',
      'blimp,2,adjunct_island,1,1,-1;-2,,0,-2;-1,',
      '',
    ]);
  });
});
