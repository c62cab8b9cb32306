/** Tables the page offers as CSV: plain functions of the results (RFC 4180 quoting). */
import type { EvaluateReport, PruneSummary, SweepPointResult } from '../../api/lab.ts';
import type { FidelityResult } from '../../engine/eval/fidelity.ts';
import type { LabState, SweepResult } from '../../state/store.ts';
import { encodeExperiment } from '../../engine/experiment/url.ts';

/** One CSV field: quoted when it holds a comma, quote or line break. */
export function csvField(value: string | number): string {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csv(header: string[], rows: (string | number)[][]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/**
 * Perplexity per model and genre ("all" for the pooled number); the pruned rows also carry the fidelity to the dense
 * model (mean KL in nats per token, top-1 agreement) when both were evaluated.
 */
export function perplexityCsv(report: EvaluateReport): string {
  const rows: (string | number)[][] = [];
  for (const r of report.results) {
    const fidelity = r.variant === 'pruned' ? report.fidelity : null;
    const of = (f: FidelityResult | undefined) => (f ? [f.kl, f.top1Agreement] : ['', '']);
    rows.push([r.variant, 'all', r.overall.tokens, r.overall.nll, r.overall.ppl, ...of(fidelity?.overall)]);
    for (const g of r.genres) rows.push([r.variant, g.id, g.tokens, g.nll, g.ppl, ...of(fidelity?.genres.find((x) => x.id === g.id))]);
  }
  return csv(['model', 'genre', 'tokens', 'mean_nll', 'perplexity', 'kl_vs_dense', 'top1_agreement'], rows);
}

/**
 * Sweep points, with the dense model as sparsity 0 of method "dense" (KL 0, top-1 agreement 1); a sweep that scored
 * benchmark items adds their accuracy as `blimp_accuracy`.
 */
/** The dense model's weight bytes on disk (the same in every point's accounting), or null before a point has them. */
export function denseDiskBytes(result: SweepResult): number | null {
  return result.points.find((p) => p.diskBytes)?.diskBytes?.dense ?? null;
}

export function sweepCsv(result: SweepResult): string {
  const scored = typeof result.denseBenchmark === 'number';
  const quantized = Boolean(result.quantBits?.length);
  const extra = (accuracy: number | undefined) => (scored ? [accuracy ?? ''] : []);
  // quant_bits: a round-to-nearest point's width (empty for prunings and the dense row).
  const bits = (p: SweepPointResult | null) => (quantized ? [p?.bits ?? ''] : []);
  const rows: (string | number)[][] = [];
  const dense = result.dense;
  if (dense)
    rows.push([
      'dense',
      0,
      0,
      dense.tokens,
      dense.nll,
      dense.ppl,
      0,
      1,
      denseDiskBytes(result) ?? '',
      ...bits(null),
      ...extra(result.denseBenchmark ?? undefined),
    ]);
  for (const p of result.points) {
    rows.push([
      p.method,
      p.sparsity,
      p.achieved,
      p.perplexity.tokens,
      p.perplexity.nll,
      p.perplexity.ppl,
      p.fidelity.kl,
      p.fidelity.top1Agreement,
      p.diskBytes?.pruned ?? '',
      ...bits(p),
      ...extra(p.benchmark?.accuracy),
    ]);
  }
  // disk_bytes: the weights the point's export stores (the prune report's accounting; empty where it has none).
  const header = ['method', 'sparsity', 'achieved_sparsity', 'tokens', 'mean_nll', 'perplexity', 'kl_vs_dense', 'top1_agreement', 'disk_bytes'];
  return csv([...header, ...(quantized ? ['quant_bits'] : []), ...(scored ? ['blimp_accuracy'] : [])], rows);
}

/** Achieved sparsity per layer and matrix kind, and per expert. */
export function sparsityCsv(summary: PruneSummary): string {
  const rows: (string | number)[][] = [];
  for (const l of summary.layers) {
    for (const m of l.matrices) rows.push([l.layer, m.name, '', m.weights, m.pruned, m.weights ? m.pruned / m.weights : 0, l.target]);
    l.experts.forEach((x, e) =>
      rows.push([l.layer, 'expert', l.droppedExperts.includes(e) ? `${e} (dropped)` : e, x.weights, x.pruned, x.weights ? x.pruned / x.weights : 0, l.target]),
    );
  }
  return csv(['layer', 'matrix', 'expert', 'weights', 'pruned', 'sparsity', 'target_sparsity'], rows);
}

/**
 * Everything the page knows about the experiment, as one JSON document: the share link (which reproduces it),
 * the model, and every result computed for it.
 */
export function experimentReport(state: LabState, pageUrl: string): Record<string, unknown> {
  const { experiment, model, tasks } = state;
  const link = `${pageUrl.replace(/#.*$/, '')}#${encodeExperiment(experiment)}`;
  return {
    format: 'moe-lab-experiment-report/1',
    created: new Date().toISOString(),
    link,
    experiment,
    model: model && {
      name: model.name,
      contentHash: model.contentHash,
      architecture: model.spec.architecture,
      layers: model.spec.numLayers,
      experts: model.spec.numExperts,
      topK: model.spec.topK,
      parameters: model.parameters,
      dtype: model.dtype,
    },
    calibration: tasks.calibrate.result && {
      ...tasks.calibrate.result,
      layers: tasks.calibrate.result.layers.map((l) => ({ ...l, expertTokens: Array.from(l.expertTokens), expertGateSum: Array.from(l.expertGateSum) })),
    },
    pruning: tasks.prune.result,
    perplexity: tasks.evaluate.result,
    sweep: tasks.sweep.result,
  };
}
