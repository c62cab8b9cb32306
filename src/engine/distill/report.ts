/**
 * distill-report.json: what was distilled from what, with which settings and data, the curves (per logged step the
 * layer being distilled and its loss L_l = sum over its experts of MSE(student expert, dense expert) on that step's
 * rows; per layer L_l before and after on its first batch), and perplexity of the dense, pruned and distilled
 * models on the same evaluation windows with the share of the gap recovered. Also the curves as a standalone SVG.
 */
import type { DistillSettings } from './settings.ts';
import { gapRecovered } from './settings.ts';

export const DISTILL_REPORT_FILE = 'distill-report.json';
export const DISTILL_REPORT_FORMAT = 'moe-lab-distill-report/2';

/** One point per logged optimizer step; `step` counts over all layers (from 1), `layer` is the model layer. */
export interface DistillCurves {
  step: number[];
  layer: number[];
  /** L_l of the step's batch, before the step's update. */
  expert_loss: number[];
  grad_norm: number[];
  lr: number[];
}

/** One distilled MoE layer: L_l on its first batch before the first and after the last step. */
export interface DistillLayerSummary {
  layer: number;
  steps: number;
  mse_before: number;
  mse_after: number | null;
  seconds: number;
}

export interface PerplexityEntry {
  ppl: number;
  nll: number;
  tokens: number;
}

export interface DistillReport {
  format: typeof DISTILL_REPORT_FORMAT;
  created: string;
  objective: 'expert-mse-layerwise';
  teacher: { folder: string; content_hash: string };
  student: {
    folder: string;
    content_hash: string;
    architecture: string;
    masks: 'masks.safetensors' | 'zeros';
    pruned_weights: number;
    nonzero_pruned_zeroed: number;
    dropped_experts: number[][];
  };
  settings: DistillSettings;
  data: { source: string; windows: number; seq_len: number; tokens_per_step: number };
  /** Optimizer steps taken over all layers, and how many a whole run takes (steps per layer x MoE layers). */
  steps: number;
  total_steps: number;
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
  layers: DistillLayerSummary[];
  curves: DistillCurves;
}

export function emptyCurves(): DistillCurves {
  return { step: [], layer: [], expert_loss: [], grad_norm: [], lr: [] };
}

/** Appends logged steps to the curves. */
export function appendCurves(c: DistillCurves, entries: { step: number; layer: number; expertLoss: number; gradNorm: number; lr: number }[]): void {
  for (const e of entries) {
    c.step.push(e.step);
    c.layer.push(e.layer);
    c.expert_loss.push(e.expertLoss);
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
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

/** Each layer's loss L_l against the step (one line per layer), on a log scale, as a standalone SVG. */
export function curvesSvg(c: DistillCurves, title: string, width = 640, height = 320): string {
  const margin = { left: 56, right: 16, top: 28, bottom: 36 };
  const layers = [...new Set(c.layer)];
  const positive = c.expert_loss.filter((v) => v > 0 && Number.isFinite(v));
  const yMin = Math.log10(Math.min(1, ...positive));
  const yMax = Math.max(yMin + 1e-9, Math.log10(Math.max(1e-9, ...positive)));
  const xMin = c.step[0] ?? 0;
  const xMax = Math.max(xMin + 1, c.step.at(-1) ?? 1);
  const x = (step: number) => margin.left + ((step - xMin) / (xMax - xMin)) * (width - margin.left - margin.right);
  const y = (v: number) => height - margin.bottom - ((Math.log10(Math.max(v, 1e-30)) - yMin) / (yMax - yMin)) * (height - margin.top - margin.bottom);
  const path = (layer: number) =>
    c.step
      .map((s, i) => [s, i] as const)
      .filter(([, i]) => c.layer[i] === layer)
      .map(([s, i], j) => `${j ? 'L' : 'M'}${x(s).toFixed(1)},${y(c.expert_loss[i]).toFixed(1)}`)
      .join('');
  const ticks = Array.from({ length: 5 }, (_, i) => yMin + ((yMax - yMin) * i) / 4);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<text x="${margin.left}" y="16" font-size="13">${escapeXml(title)}</text>`,
    `<line x1="${margin.left}" y1="${height - margin.bottom}" x2="${width - margin.right}" y2="${height - margin.bottom}" stroke="#888"/>`,
    `<line x1="${margin.left}" y1="${margin.top}" x2="${margin.left}" y2="${height - margin.bottom}" stroke="#888"/>`,
    ...ticks.map((v) => `<text x="${margin.left - 6}" y="${y(10 ** v) + 4}" text-anchor="end">${(10 ** v).toPrecision(2)}</text>`),
    `<text x="${margin.left}" y="${height - 12}">step ${xMin}</text>`,
    `<text x="${width - margin.right}" y="${height - 12}" text-anchor="end">step ${xMax} (expert MSE per layer, log scale)</text>`,
    ...layers.map((l, i) => `<path d="${path(l)}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5"/>`),
    ...layers.map((l, i) => `<text x="${width - margin.right - 90}" y="${margin.top + 14 * i + 10}" fill="${COLORS[i % COLORS.length]}">layer ${l}</text>`),
    '</svg>',
    '',
  ].join('\n');
}
