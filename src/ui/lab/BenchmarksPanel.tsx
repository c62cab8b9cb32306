import { useCallback, useEffect, useState } from 'react';
import type { BenchmarkReport, BenchmarkTaskInput } from '../../api/benchmarks.ts';
import { parseTaskFile } from '../../engine/eval/tasks.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { drawBars } from '../charts/bars.ts';
import { percent } from '../charts/common.ts';
import { Chart } from '../charts/Chart.tsx';
import { saveFile } from '../download.ts';
import { accuracyRows, benchmarkCsv, flippedItems } from './benchmark-reports.ts';
import { NeedsTokenizer } from './NeedsTokenizer.tsx';
import { NumberField } from './NumberField.tsx';
import { TaskView, useRunning } from './TaskView.tsx';

/** The shipped BLiMP subset (public/data/blimp/README.md), relative to the site root. */
const BLIMP_FILE = 'data/blimp/blimp-200.jsonl';
/** Pairs per paradigm by default: 67 x 10 pairs run in seconds on a GPU, about a minute on a CPU driver. */
const DEFAULT_LIMIT = 10;
/** The shipped file has 200 pairs per paradigm. */
const MAX_LIMIT = 200;
/** Flipped items listed on the page (the CSV has them all). */
const FLIPPED_SHOWN = 30;

/** The shipped BLiMP file's lines, fetched once per page. */
let blimpLines: Promise<string[]> | null = null;
function shippedBlimp(): Promise<string[]> {
  blimpLines ??= fetch(BLIMP_FILE).then(async (response) => {
    if (!response.ok) throw new Error(`${BLIMP_FILE}: HTTP ${response.status}`);
    return (await response.text()).split('\n').filter((line) => line.trim());
  });
  blimpLines.catch(() => (blimpLines = null));
  return blimpLines;
}

/**
 * Benchmarks: zero-shot accuracy by log-likelihood (docs/evaluation.md) of the dense and the pruned model on the same
 * items: BLiMP's minimal pairs (the shipped subset, all fields or one) or an uploaded task file; accuracy per field
 * and linguistics term, the items whose verdict flipped, CSV.
 */
export function BenchmarksPanel() {
  const model = useLab((s) => s.model);
  const masksKey = useLab((s) => s.masksKey);
  const task = useLab((s) => s.tasks.benchmark);
  const running = useRunning('benchmark');
  const actions = useLabActions();
  const [source, setSource] = useState<'blimp' | 'upload'>('blimp');
  const [fields, setFields] = useState<string[]>([]);
  const [field, setField] = useState('');
  const [limit, setLimit] = useState(DEFAULT_LIMIT);
  const [upload, setUpload] = useState<BenchmarkTaskInput | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  // The masks the shown result was computed under (undefined: nothing run in this page yet).
  const [ranMasks, setRanMasks] = useState<string | null | undefined>(undefined);
  const canRead = model?.tokenizer ?? false;

  useEffect(() => {
    if (!canRead) return;
    shippedBlimp()
      .then((lines) => setFields([...new Set(lines.map((line) => (JSON.parse(line) as { field: string }).field))]))
      .catch((error: Error) => setProblem(error.message));
  }, [canRead]);

  const onFile = async (file: File | undefined) => {
    if (!file) return;
    const input = { file: file.name, text: await file.text() };
    try {
      parseTaskFile(input.file, input.text);
      setUpload(input);
      setProblem(null);
    } catch (error) {
      setUpload(null);
      setProblem((error as Error).message);
    }
  };

  const run = async () => {
    let input = upload;
    if (source === 'blimp') {
      const lines = await shippedBlimp();
      const chosen = field ? lines.filter((line) => (JSON.parse(line) as { field: string }).field === field) : lines;
      input = { file: field ? `blimp-${field.replace(/\W+/g, '-')}.jsonl` : 'blimp-200.jsonl', text: chosen.join('\n') };
    }
    if (!input) return;
    setRanMasks(masksKey);
    await actions.benchmark([input], limit);
  };

  return (
    <section className="card lab-section" id="benchmarks" aria-labelledby="benchmarks-title">
      <h2 id="benchmarks-title">Benchmarks</h2>
      <p className="lead">
        Zero-shot accuracy by log-likelihood, scored as lm-evaluation-harness scores it: a BLiMP pair is right when the grammatical sentence is at least as
        likely as the ungrammatical one; a multiple-choice item when the right answer is the most likely. The dense and the pruned model score the same items.
      </p>
      {model && !canRead && <NeedsTokenizer name={model.name} what="Benchmarks read their items as text" />}
      <div className="settings">
        <div className="row">
          <label className="check">
            <input type="radio" name="benchmark-source" checked={source === 'blimp'} onChange={() => setSource('blimp')} disabled={running} /> BLiMP minimal
            pairs
          </label>
          <label>
            Field{' '}
            <select value={field} onChange={(e) => setField(e.target.value)} disabled={running || source !== 'blimp'}>
              <option value="">all fields</option>
              {fields.map((f) => (
                <option key={f} value={f}>
                  {f}
                </option>
              ))}
            </select>
          </label>
          <NumberField label="Items per paradigm" value={limit} min={1} max={MAX_LIMIT} onCommit={setLimit} disabled={running} />
        </div>
        <div className="row">
          <label className="check">
            <input type="radio" name="benchmark-source" checked={source === 'upload'} onChange={() => setSource('upload')} disabled={running} /> a task file
          </label>
          <label className="button">
            Upload a task file (.jsonl)…
            <input
              className="visually-hidden"
              type="file"
              accept=".jsonl,.json,application/json"
              onChange={(e) => {
                setSource('upload');
                void onFile(e.target.files?.[0]);
              }}
            />
          </label>
          {upload && <span className="hint">{upload.file}</span>}
        </div>
      </div>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <div className="row actions">
        <button type="button" className="primary" disabled={!canRead || running || (source === 'upload' && !upload)} onClick={() => void run()}>
          Run benchmarks
        </button>
        <span className="hint">{masksKey ? 'Scores the dense and the pruned model.' : 'Nothing is pruned yet: scores the dense model.'}</span>
      </div>
      <TaskView task="benchmark" label="Benchmarks" />
      {task.result && <BenchmarkResult report={task.result} stale={ranMasks !== undefined && ranMasks !== masksKey} />}
    </section>
  );
}

function BenchmarkResult({ report, stale }: { report: BenchmarkReport; stale: boolean }) {
  const rows = accuracyRows(report);
  const variants = report.results.map((r) => r.variant);
  const fieldRows = rows.filter((r) => r.level === 'field' && r.name);
  const flipped = flippedItems(report);
  const draw = useCallback(
    (onHover: (text: string | null) => void) =>
      drawBars(
        {
          title: 'BLiMP accuracy per field, dense vs pruned',
          categories: fieldRows.map((r) => r.name),
          series: variants.map((v) => ({ name: v, values: fieldRows.map((r) => r.accuracy[v] ?? 0) })),
          xTitle: 'field',
          yTitle: 'accuracy',
          yDomain: [0, 1],
          format: (x) => percent(x, 1),
        },
        onHover,
        760,
        200,
      ),
    [report],
  );
  return (
    <div className="result" role="region" aria-label="Benchmark result">
      {stale && <p className="hint warn">These numbers come from other masks than the current ones: run the benchmarks again.</p>}
      <table className="data-table" aria-label="Benchmark accuracy">
        <thead>
          <tr>
            <th scope="col">task / group</th>
            <th scope="col">items</th>
            {variants.map((v) => (
              <th scope="col" key={v}>
                {v} accuracy
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.task}/${r.level}/${r.name}`} className={r.level === 'task' ? 'total' : ''}>
              <th scope="row">{r.level === 'task' ? r.name : `${r.level}: ${r.name || '-'}`}</th>
              <td>{r.items}</td>
              {variants.map((v) => (
                <td key={v} data-testid={`benchmark-${r.level}-${r.name}-${v}`}>
                  {r.accuracy[v] === undefined ? '' : percent(r.accuracy[v]!, 1)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="hint">
        {report.sequences.toLocaleString('en-US')} sequences, {report.tokens.toLocaleString('en-US')} tokens, {report.seconds.toFixed(1)} s. An empty context is
        conditioned on the {report.contextToken.rule === 'first-token' ? "sentence's own first token" : `${report.contextToken.rule.toUpperCase()} token`}.
      </p>
      {fieldRows.length > 1 && <Chart label="BLiMP accuracy per field" draw={draw} />}
      {variants.length > 1 && (
        <div>
          <h3>Flipped by pruning ({flipped.length})</h3>
          {flipped.length === 0 ? (
            <p className="hint">Every item has the same verdict under both models.</p>
          ) : (
            <table className="data-table" aria-label="Flipped items">
              <thead>
                <tr>
                  <th scope="col">task</th>
                  <th scope="col">item</th>
                  <th scope="col">paradigm</th>
                  <th scope="col">dense</th>
                  <th scope="col">pruned</th>
                  <th scope="col">log-likelihoods dense → pruned</th>
                </tr>
              </thead>
              <tbody>
                {flipped.slice(0, FLIPPED_SHOWN).map((f) => (
                  <tr key={`${f.task}/${f.dense.line}`}>
                    <td>{f.task}</td>
                    {/* A BLiMP pair by its paradigm's pairID (the page sends a filtered file, whose line numbers are its own). */}
                    <td>{f.dense.pairId !== undefined ? `pair ${f.dense.pairId}` : `line ${f.dense.line}`}</td>
                    <td>{f.dense.uid ?? ''}</td>
                    <td>{f.dense.correct ? 'right' : 'wrong'}</td>
                    <td>{f.pruned.correct ? 'right' : 'wrong'}</td>
                    <td>
                      {f.dense.logLikelihoods.map((x) => x.toFixed(2)).join(' / ')} → {f.pruned.logLikelihoods.map((x) => x.toFixed(2)).join(' / ')}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}
      <button type="button" onClick={() => saveFile('benchmarks.csv', benchmarkCsv(report), 'text/csv')}>
        Download items (CSV)
      </button>
    </div>
  );
}
