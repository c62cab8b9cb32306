/**
 * distill-report.json: what was distilled from what, with which settings and data, the loss curves per logged
 * step (CE, L_expert, total = CE + lambda L_expert), and perplexity of the dense, pruned and distilled models on the
 * same evaluation windows with the share of the gap recovered. Also the curves as a small standalone SVG.
 */
import type { DistillSettings } from './settings.ts';
import { gapRecovered } from './settings.ts';

export const DISTILL_REPORT_FILE = 'distill-report.json';

export interface DistillCurves {
  step: number[];
  cross_entropy: number[];
  expert_loss: number[];
  total: number[];
  grad_norm: number[];
  lr: number[];
}

export interface PerplexityEntry {
  ppl: number;
  nll: number;
  tokens: number;
}

export interface DistillReport {
  format: 'moe-lab-distill-report/1';
  created: string;
  teacher: { folder: string; content_hash: string };
  student: {
    folder: string;
    content_hash: string;
    masks: 'masks.safetensors' | 'zeros';
    pruned_weights: number;
    nonzero_pruned_zeroed: number;
    dropped_experts: number[][];
  };
  settings: DistillSettings;
  data: { source: string; windows: number; seq_len: number; tokens_per_step: number };
  lambda: number;
  /** CE and L_expert of the first batch, when lambda was measured there. */
  lambda_measured: { cross_entropy: number; expert_loss: number } | null;
  steps: number;
  finished: boolean;
  seconds: number;
  device: string;
  evaluation: { source: string; ctx: number; stride: number; windows: number } | null;
  ppl_dense: number | null;
  ppl_pruned: number | null;
  ppl_distilled: number | null;
  perplexity: { dense: PerplexityEntry; pruned: PerplexityEntry; distilled: PerplexityEntry } | null;
  /** (ppl_pruned - ppl_distilled) / (ppl_pruned - ppl_dense) */
  gap_recovered: number | null;
  /** Pruned weights checked in the written model, and how many of them are not exactly 0 (must be 0). */
  masks_preserved: { pruned_weights: number; nonzero_after: number };
  curves: DistillCurves;
}

export function emptyCurves(): DistillCurves {
  return { step: [], cross_entropy: [], expert_loss: [], total: [], grad_norm: [], lr: [] };
}

/** Appends logged steps (src/gpu/distill/run.ts entries) to the curves. */
export function appendCurves(
  c: DistillCurves,
  entries: { step: number; crossEntropy: number; expertLoss: number; loss: number; gradNorm: number; lr: number }[],
): void {
  for (const e of entries) {
    c.step.push(e.step);
    c.cross_entropy.push(e.crossEntropy);
    c.expert_loss.push(e.expertLoss);
    c.total.push(e.loss);
    c.grad_norm.push(e.gradNorm);
    c.lr.push(e.lr);
  }
}

/** ppl_* and gap_recovered from the three evaluations (null when there was no evaluation text). */
export function perplexityFields(p: DistillReport['perplexity']): Pick<DistillReport, 'ppl_dense' | 'ppl_pruned' | 'ppl_distilled' | 'gap_recovered'> {
  if (!p) return { ppl_dense: null, ppl_pruned: null, ppl_distilled: null, gap_recovered: null };
  return {
    ppl_dense: p.dense.ppl,
    ppl_pruned: p.pruned.ppl,
    ppl_distilled: p.distilled.ppl,
    gap_recovered: gapRecovered(p.dense.ppl, p.pruned.ppl, p.distilled.ppl),
  };
}

const escapeXml = (text: string) => text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** The curves CE, lambda L_expert and total against the step, as a standalone SVG (width x height pixels). */
export function curvesSvg(c: DistillCurves, lambda: number, title: string, width = 640, height = 320): string {
  const margin = { left: 56, right: 16, top: 28, bottom: 36 };
  const series = [
    { name: 'CE', color: '#1f77b4', values: c.cross_entropy },
    { name: `λ·L_expert (λ = ${lambda.toPrecision(3)})`, color: '#ff7f0e', values: c.expert_loss.map((v) => lambda * v) },
    { name: 'total', color: '#2ca02c', values: c.total },
  ];
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  const yMin = Math.min(0, ...all);
  const yMax = Math.max(1e-9, ...all);
  const xMin = c.step[0] ?? 0;
  const xMax = Math.max(xMin + 1, c.step.at(-1) ?? 1);
  const x = (step: number) => margin.left + ((step - xMin) / (xMax - xMin)) * (width - margin.left - margin.right);
  const y = (v: number) => height - margin.bottom - ((v - yMin) / (yMax - yMin)) * (height - margin.top - margin.bottom);
  const path = (values: number[]) => values.map((v, i) => `${i ? 'L' : 'M'}${x(c.step[i]).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const ticks = Array.from({ length: 5 }, (_, i) => yMin + ((yMax - yMin) * i) / 4);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${margin.left}" y="16" font-size="13">${escapeXml(title)}</text>`,
    `<line x1="${margin.left}" y1="${y(yMin)}" x2="${width - margin.right}" y2="${y(yMin)}" stroke="#888"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${height - margin.bottom}" stroke="#888"/>`,
    ...ticks.map((v) => `<text x="${margin.left - 6}" y="${y(v) + 4}" text-anchor="end">${v.toPrecision(3)}</text>`),
    `<text x="${margin.left}" y="${height - 12}">step ${xMin}</text>`,
    `<text x="${width - margin.right}" y="${height - 12}" text-anchor="end">step ${xMax}</text>`,
    ...series.map((s) => `<path d="${path(s.values)}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`),
    ...series.map((s, i) => `<text x="${width - margin.right - 200}" y="${margin.top + 14 * i + 10}" fill="${s.color}">${escapeXml(s.name)}</text>`),
    '</svg>',
    '',
  ].join('\n');
}
