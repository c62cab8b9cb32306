/** Tables the page offers as CSV: plain functions of the results (RFC 4180 quoting). */
import type { EvaluateReport } from '../../api/lab.ts';

/** One CSV field: quoted when it holds a comma, quote or line break. */
export function csvField(value: string | number): string {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** Perplexity per model and genre ("all" for the pooled number). */
export function perplexityCsv(report: EvaluateReport): string {
  const rows: (string | number)[][] = [];
  for (const r of report.results) {
    rows.push([r.variant, 'all', r.overall.tokens, r.overall.nll, r.overall.ppl]);
    for (const g of r.genres) rows.push([r.variant, g.id, g.tokens, g.nll, g.ppl]);
  }
  return csv(['model', 'genre', 'tokens', 'mean_nll', 'perplexity'], rows);
}
