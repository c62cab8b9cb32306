import { useCallback, useState } from 'react';
import type { PruneMethodName, SweepPointResult } from '../../api/lab.ts';
import { useLab, useLabActions, type SweepResult } from '../../state/store.ts';
import { Chart } from '../charts/Chart.tsx';
import { percent } from '../charts/common.ts';
import { formatBytes } from '../format.ts';
import { drawLines, type LineData } from '../charts/lines.ts';
import { saveFile, svgText, svgToPng } from '../download.ts';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { QUANT_BITS, type QuantBits } from '../../engine/quantize/quantized-matrix.ts';
import { benchmarkInput } from './benchmark-inputs.ts';
import { METHODS } from './prune-methods.ts';
import { denseDiskBytes, sweepCsv } from './reports.ts';
import { TaskView, useRunning } from './TaskView.tsx';

/** "0.2, 0.4 0.6" -> [0.2, 0.4, 0.6] (percentages accepted: "50%"), sorted, deduplicated, within the sparsity limits (0-0.95). */
export function parseSparsities(text: string): number[] {
  const values = text
    .split(/[\s,;]+/)
    .filter(Boolean)
    .map((t) => (t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t)))
    .filter((v) => Number.isFinite(v) && v >= SETTINGS.sparsity.min && v <= SETTINGS.sparsity.max);
  return [...new Set(values)].sort((a, b) => a - b);
}

/**
 * What the sweep chart plots per point: perplexity (log scale, the dense model as a reference line), or the pruned
 * model's fidelity to the dense one on the same windows (src/engine/eval/fidelity.ts). `dense` is the dense model's
 * value (null where the sweep has none): the reference line against sparsity, the reference point against bytes.
 */
export const SWEEP_METRICS = {
  ppl: { label: 'perplexity', value: (p: SweepPointResult) => p.perplexity.ppl, dense: (r: SweepResult) => r.dense?.ppl ?? null },
  kl: { label: 'KL from dense (nats/token)', value: (p: SweepPointResult) => p.fidelity.kl, dense: () => 0 },
  top1: { label: 'top-1 agreement with dense', value: (p: SweepPointResult) => p.fidelity.top1Agreement, dense: () => 1 },
  // Only for sweeps that scored the Benchmarks step's items (points without it are left out).
  blimp: {
    label: 'BLiMP accuracy',
    value: (p: SweepPointResult) => p.benchmark?.accuracy ?? NaN,
    dense: (r: SweepResult) => (typeof r.denseBenchmark === 'number' ? r.denseBenchmark : null),
  },
} as const;
export type SweepMetric = keyof typeof SWEEP_METRICS;

/**
 * The chart's x axis: the sparsity asked for, or the weight bytes on disk of the point's export (the prune report's
 * accounting). Against bytes, masks leave every point at the dense size (a vertical line: unstructured sparsity saves
 * nothing on disk), while removed neurons and dropped experts move the line left.
 */
export const SWEEP_AXES = {
  // Quantization points have no sparsity of their own: drawn against bytes only.
  sparsity: { label: 'sparsity', value: (p: SweepPointResult) => (p.method === 'rtn' ? NaN : p.sparsity), format: (v: number) => percent(v, 0) },
  bytes: { label: 'bytes on disk', value: (p: SweepPointResult) => p.diskBytes?.pruned ?? NaN, format: formatBytes },
} as const;
export type SweepAxis = keyof typeof SWEEP_AXES;

export function sweepChartData(result: SweepResult, metric: SweepMetric = 'ppl', axis: SweepAxis = 'sparsity'): LineData {
  const { label, value, dense } = SWEEP_METRICS[metric];
  const x = SWEEP_AXES[axis];
  const denseValue = dense(result);
  // Round-to-nearest points (one line over their widths) after the methods, when the sweep measured any.
  const methods = [...result.methods, ...(result.quantBits?.length ? (['rtn'] as const) : [])];
  const series = methods.map((method) => ({
    name: method,
    points: result.points
      .filter((p) => p.method === method)
      .map((p) => ({ x: x.value(p), y: value(p) }))
      .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)),
  }));
  const denseBytes = denseDiskBytes(result);
  // Against bytes the dense model is a point (its size, its value) rather than a line.
  const densePoint = axis === 'bytes' && denseBytes !== null && denseValue !== null ? [{ name: 'dense', points: [{ x: denseBytes, y: denseValue }] }] : [];
  return {
    title: `${label[0].toUpperCase()}${label.slice(1)} against ${x.label}, per method`,
    series: [...series, ...densePoint],
    xTitle: x.label,
    yTitle: label,
    formatX: x.format,
    formatY: metric === 'top1' || metric === 'blimp' ? (v) => percent(v, metric === 'blimp' ? 1 : 0) : undefined,
    xDomain:
      axis === 'sparsity'
        ? [0, Math.max(0.5, ...result.sparsities)]
        : [0, 1.05 * Math.max(denseBytes ?? 1, ...series.flatMap((s) => s.points.map((p) => p.x)))],
    reference: axis === 'sparsity' && (metric === 'ppl' || metric === 'blimp') && denseValue !== null ? { y: denseValue, label: 'dense' } : undefined,
    logY: metric === 'ppl',
  };
}

/** Methods x sparsities on the evaluation windows: a chart that grows as points arrive, exportable as CSV, SVG and PNG. */
export function SweepView() {
  const result = useLab((s) => s.tasks.sweep.result);
  const model = useLab((s) => s.model);
  const running = useRunning('sweep');
  const { sweep } = useLabActions();
  const [methods, setMethods] = useState<PruneMethodName[]>(['moe-pruner', 'wanda', 'magnitude']);
  const [text, setText] = useState('0.25, 0.5, 0.75');
  const [chosenMetric, setMetric] = useState<SweepMetric>('ppl');
  const [axis, setAxis] = useState<SweepAxis>('sparsity');
  const [quantBits, setQuantBits] = useState<QuantBits[]>([]);
  const [withBenchmark, setWithBenchmark] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const selection = useLab((s) => s.experiment.benchmark);
  const structure = useLab((s) => s.experiment.prune.structure);
  const sparsities = parseSparsities(text);
  const scored = typeof result?.denseBenchmark === 'number';
  // BLiMP accuracy is offered only for a sweep that scored the items.
  const metric: SweepMetric = chosenMetric === 'blimp' && !scored ? 'ppl' : chosenMetric;
  const run = async () => {
    let benchmark;
    try {
      benchmark = withBenchmark ? { tasks: [await benchmarkInput(selection.tasks)], limit: selection.limit } : undefined;
      setProblem(null);
    } catch (error) {
      setProblem((error as Error).message);
      return;
    }
    await sweep(methods, sparsities, benchmark, quantBits);
  };
  const draw = useCallback((onHover: (t: string | null) => void) => drawLines(sweepChartData(result!, metric, axis), onHover), [result, metric, axis]);
  const png = async () => saveFile('sweep.png', await svgToPng(drawLines(sweepChartData(result!, metric, axis))), 'image/png');
  return (
    <div className="subsection" role="region" aria-label="Sweep">
      <h3>Sweep methods and sparsities</h3>
      <fieldset className="row choice" disabled={running}>
        <legend>Methods</legend>
        {METHODS.map((m) => (
          <label key={m.id}>
            <input
              type="checkbox"
              checked={methods.includes(m.id)}
              onChange={(e) =>
                setMethods(e.target.checked ? METHODS.map((x) => x.id).filter((x) => x === m.id || methods.includes(x)) : methods.filter((x) => x !== m.id))
              }
            />{' '}
            {m.id}
          </label>
        ))}
      </fieldset>
      <fieldset className="row choice" disabled={running}>
        <legend>Round-to-nearest at (bits; under the masks in force, beside the quantization in force; drawn against bytes on disk)</legend>
        {QUANT_BITS.map((bits) => (
          <label key={bits}>
            <input
              type="checkbox"
              checked={quantBits.includes(bits)}
              onChange={(e) =>
                setQuantBits(e.target.checked ? QUANT_BITS.filter((b) => b === bits || quantBits.includes(b)) : quantBits.filter((b) => b !== bits))
              }
            />{' '}
            {bits}
          </label>
        ))}
      </fieldset>
      <div className="row">
        <label htmlFor="sweep-sparsities">Sparsities</label>
        <input id="sweep-sparsities" type="text" value={text} onChange={(e) => setText(e.target.value)} disabled={running} />
        <span className="hint">
          {sparsities.length} × {methods.length} = {sparsities.length * methods.length} prunings with the Prune step's other settings (structure: {structure}),
          each measured on the evaluation settings below
        </span>
        <button type="button" disabled={!model?.tokenizer || running || !methods.length || !sparsities.length} onClick={() => void run()}>
          Run sweep
        </button>
      </div>
      <label className="check">
        <input type="checkbox" checked={withBenchmark} onChange={(e) => setWithBenchmark(e.target.checked)} disabled={running} /> Also BLiMP accuracy (the
        Benchmarks step's items: {selection.tasks.kind === 'pasted' ? `uploaded file ${selection.tasks.hash}` : selection.tasks.id}, {selection.limit} per
        paradigm)
      </label>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <TaskView task="sweep" label="Sweep" />
      {result && (
        <>
          <div className="row">
            <label htmlFor="sweep-metric">Metric</label>
            <select id="sweep-metric" value={metric} onChange={(e) => setMetric(e.target.value as SweepMetric)}>
              {(Object.keys(SWEEP_METRICS) as SweepMetric[])
                .filter((m) => m !== 'blimp' || scored)
                .map((m) => (
                  <option key={m} value={m}>
                    {SWEEP_METRICS[m].label}
                  </option>
                ))}
            </select>
            <label htmlFor="sweep-axis">Against</label>
            <select id="sweep-axis" value={axis} onChange={(e) => setAxis(e.target.value as SweepAxis)}>
              {(Object.keys(SWEEP_AXES) as SweepAxis[]).map((a) => (
                <option key={a} value={a}>
                  {SWEEP_AXES[a].label}
                </option>
              ))}
            </select>
          </div>
          <Chart
            label="Sweep chart"
            draw={draw}
            caption={`${result.points.length} of ${result.methods.length * result.sparsities.length + (result.quantBits?.length ?? 0)} points`}
          />
          <div className="row">
            <button type="button" onClick={() => saveFile('sweep.csv', sweepCsv(result), 'text/csv')}>
              Download sweep (CSV)
            </button>
            <button type="button" onClick={() => saveFile('sweep.svg', svgText(drawLines(sweepChartData(result, metric, axis))), 'image/svg+xml')}>
              Download chart (SVG)
            </button>
            <button type="button" onClick={() => void png()}>
              Download chart (PNG)
            </button>
          </div>
        </>
      )}
    </div>
  );
}
