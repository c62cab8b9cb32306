import { useCallback, useEffect, useState } from 'react';
import { flippedItems, type BenchmarkReport } from '../../api/benchmarks.ts';
import { blimpChoices, SHIPPED_BLIMP, type BlimpChoice } from '../../engine/eval/benchmark-selection.ts';
import { parseTaskFile } from '../../engine/eval/tasks.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { drawBars } from '../charts/bars.ts';
import { percent } from '../charts/common.ts';
import { Chart } from '../charts/Chart.tsx';
import { saveFile } from '../download.ts';
import { benchmarkInput, rememberUpload, shippedBlimp, uploadedFile } from './benchmark-inputs.ts';
import { accuracyRows, benchmarkCsv } from './benchmark-reports.ts';
import { NeedsTokenizer } from './NeedsTokenizer.tsx';
import { SettingField } from './SettingField.tsx';
import { TaskView, useRunning } from './TaskView.tsx';

/** The shipped file has 200 pairs per paradigm. */
const SHIPPED_PER_PARADIGM = 200;
/** Flipped items listed on the page (the CSV has them all). */
const FLIPPED_SHOWN = 30;

/**
 * Benchmarks: zero-shot accuracy by log-likelihood (docs/evaluation.md) of the dense and the pruned model on the same
 * items: BLiMP's minimal pairs (the shipped subset, all of it, one field or one paradigm) or an uploaded task file;
 * accuracy per field and linguistics term, the items whose verdict flipped, CSV. The selection and the limit are the
 * experiment's (share-link keys bench, benchlimit), so a link opens the step with the same items.
 */
export function BenchmarksPanel() {
  const model = useLab((s) => s.model);
  const masksKey = useLab((s) => s.masksKey);
  const task = useLab((s) => s.tasks.benchmark);
  const selection = useLab((s) => s.experiment.benchmark.tasks);
  const limit = useLab((s) => s.experiment.benchmark.limit);
  const running = useRunning('benchmark');
  const actions = useLabActions();
  const [choices, setChoices] = useState<BlimpChoice[]>([]);
  // The last BLiMP choice, restored when switching back from an uploaded file.
  const [blimpId, setBlimpId] = useState(selection.kind === 'corpus' ? selection.id : SHIPPED_BLIMP);
  const [, setUploads] = useState(0);
  const [problem, setProblem] = useState<string | null>(null);
  // The masks the shown result was computed under (undefined: nothing run in this page yet).
  const [ranMasks, setRanMasks] = useState<string | null | undefined>(undefined);
  const canRead = model?.tokenizer ?? false;
  const upload = selection.kind === 'pasted' ? uploadedFile(selection.hash) : null;

  useEffect(() => {
    if (!canRead) return;
    shippedBlimp()
      .then((lines) => setChoices(blimpChoices(lines)))
      .catch((error: Error) => setProblem(error.message));
  }, [canRead]);
  useEffect(() => {
    if (selection.kind === 'corpus') setBlimpId(selection.id);
  }, [selection]);

  const onFile = async (file: File | undefined) => {
    if (!file) return;
    const input = { file: file.name, text: await file.text() };
    try {
      parseTaskFile(input.file, input.text);
      actions.setSetting('benchTasks', { kind: 'pasted', hash: await rememberUpload(input) });
      setUploads((n) => n + 1);
      setProblem(null);
    } catch (error) {
      setProblem((error as Error).message);
    }
  };

  const run = async () => {
    try {
      const input = await benchmarkInput(selection);
      setProblem(null);
      setRanMasks(masksKey);
      await actions.benchmark([input], limit);
    } catch (error) {
      setProblem((error as Error).message);
    }
  };

  const known = selection.kind === 'pasted' || choices.length === 0 || choices.some((c) => c.id === selection.id);
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
            <input
              type="radio"
              name="benchmark-source"
              checked={selection.kind === 'corpus'}
              onChange={() => actions.setSetting('benchTasks', { kind: 'corpus', id: blimpId })}
              disabled={running}
            />{' '}
            BLiMP minimal pairs
          </label>
          <label>
            Field or paradigm{' '}
            <select
              value={selection.kind === 'corpus' ? selection.id : blimpId}
              onChange={(e) => actions.setSetting('benchTasks', { kind: 'corpus', id: e.target.value })}
              disabled={running || selection.kind !== 'corpus'}
            >
              {!known && selection.kind === 'corpus' && <option value={selection.id}>{selection.id} (not in the shipped subset)</option>}
              {(['all', 'field', 'paradigm'] as const).map((level) => (
                <optgroup key={level} label={{ all: 'everything', field: 'fields', paradigm: 'paradigms' }[level]}>
                  {choices
                    .filter((c) => c.level === level)
                    .map((c) => (
                      <option key={c.id} value={c.id}>
                        {c.name} ({c.pairs} pairs)
                      </option>
                    ))}
                </optgroup>
              ))}
            </select>
          </label>
          <SettingField name="benchLimit" max={selection.kind === 'corpus' ? SHIPPED_PER_PARADIGM : undefined} disabled={running} />
        </div>
        <div className="row">
          <label className="check">
            <input type="radio" name="benchmark-source" checked={selection.kind === 'pasted'} disabled /> a task file
          </label>
          <label className="button">
            Upload a task file (.jsonl)…
            <input className="visually-hidden" type="file" accept=".jsonl,.json,application/json" onChange={(e) => void onFile(e.target.files?.[0])} />
          </label>
          {selection.kind === 'pasted' && (
            <span className="hint">
              {upload ? `${upload.file} (hash ${selection.hash})` : `The link's task file is known only by its hash ${selection.hash}: upload the same file.`}
            </span>
          )}
        </div>
      </div>
      {!known && <p className="hint warn">bench={selection.kind === 'corpus' ? selection.id : ''} names no field or paradigm of the shipped BLiMP subset.</p>}
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <div className="row actions">
        <button
          type="button"
          className="primary"
          disabled={!canRead || running || (selection.kind === 'pasted' && !upload) || !known}
          onClick={() => void run()}
        >
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
