/** The Benchmarks step's tables: accuracy per group dense vs pruned, CSV (the flipped items: flippedItems, src/api/benchmarks.ts). */
import type { BenchmarkReport, BenchmarkTaskResult } from '../../api/benchmarks.ts';
import type { Variant } from '../../api/lab.ts';
import { csv } from './reports.ts';

/** One row of the accuracy table: a task, or one of a BLiMP task's fields or linguistics terms. */
export interface AccuracyRow {
  task: string;
  /** 'task', 'field' or 'term'. */
  level: 'task' | 'field' | 'term';
  name: string;
  items: number;
  /** Per variant in the report's order. */
  accuracy: Partial<Record<Variant, number>>;
}

/** Accuracy per task, field and term for every variant of the report. */
export function accuracyRows(report: BenchmarkReport): AccuracyRow[] {
  const rows: AccuracyRow[] = [];
  report.results[0].tasks.forEach((task, t) => {
    const of = (pick: (r: BenchmarkTaskResult) => { accuracy: number } | undefined) =>
      Object.fromEntries(report.results.map((r) => [r.variant, pick(r.tasks[t])?.accuracy])) as Partial<Record<Variant, number>>;
    rows.push({ task: task.name, level: 'task', name: task.name, items: task.items, accuracy: of((x) => x) });
    for (const g of task.fields)
      rows.push({ task: task.name, level: 'field', name: g.name, items: g.items, accuracy: of((x) => x.fields.find((f) => f.name === g.name)) });
    for (const g of task.terms)
      rows.push({ task: task.name, level: 'term', name: g.name, items: g.items, accuracy: of((x) => x.terms.find((f) => f.name === g.name)) });
  });
  return rows;
}

/** Every item: per variant its verdict and the log-likelihood of each answer (separated by ';'). */
export function benchmarkCsv(report: BenchmarkReport): string {
  const variants = report.results.map((r) => r.variant);
  const rows: (string | number)[][] = [];
  report.results[0].tasks.forEach((task, t) =>
    (task.perItem ?? []).forEach((item, i) => {
      const per = report.results.map((r) => r.tasks[t].perItem![i]);
      rows.push([
        task.name,
        item.line,
        item.uid ?? '',
        item.pairId ?? '',
        ...per.flatMap((x) => [x.correct ? 1 : 0, x.logLikelihoods.join(';'), x.correctNorm === undefined ? '' : x.correctNorm ? 1 : 0]),
      ]);
    }),
  );
  const header = ['task', 'line', 'paradigm', 'pair_id', ...variants.flatMap((v) => [`${v}_correct`, `${v}_log_likelihoods`, `${v}_correct_norm`])];
  return csv(header, rows);
}
