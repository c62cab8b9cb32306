import { useCallback, useEffect, useRef, useState } from 'react';
import type { EngineErrorInfo } from '../../api/errors.ts';
import type { RecoverReport, RecoverRequest } from '../../api/recover.ts';
import type { CalibrationText } from '../../engine/experiment/schema.ts';
import { textKey, textRefOf } from '../../engine/experiment/text-ref.ts';
import { errorInfo } from '../../state/lab-actions.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { Chart } from '../charts/Chart.tsx';
import { drawLines } from '../charts/lines.ts';
import { saveFile } from '../download.ts';
import { NumberField } from '../lab/NumberField.tsx';
import { TextPicker } from '../lab/TextPicker.tsx';
import { ProgressBar } from '../ProgressBar.tsx';
import './RecoverPanel.css';

/** Steps per engine call: the curves redraw after each, and Pause takes effect within one. */
const CHUNK = 5;

interface Settings {
  text: CalibrationText | null; // null: the calibration text
  samples: number;
  seqLen: number;
  seed: number;
  steps: number;
  lr: number;
  batch: number;
}

const DEFAULTS: Settings = { text: null, samples: 64, seqLen: 128, seed: 0, steps: 50, lr: 1e-3, batch: 4 };

/**
 * Recover: expert-wise knowledge distillation of the pruned model toward the dense one (MoE-Pruner, Xie et al.
 * 2024, sec. 3.3), MoE layer by MoE layer, masks kept — every pruned weight stays exactly 0. Runs in the engine in
 * chunks of steps, so the loss curves draw as it trains and Pause / Resume continue the same run; when finished,
 * the dense, pruned and distilled perplexities on the Evaluate panel's windows side by side.
 */
export function RecoverPanel() {
  const model = useLab((s) => s.model);
  const masksKey = useLab((s) => s.masksKey);
  const experiment = useLab((s) => s.experiment);
  const { engine } = useLabActions();
  const [settings, setSettings] = useState<Settings>(DEFAULTS);
  const [report, setReport] = useState<RecoverReport | null>(null);
  const [progress, setProgress] = useState<{ message: string; done: number; total: number } | null>(null);
  const [error, setError] = useState<EngineErrorInfo | null>(null);
  const [running, setRunning] = useState(false);
  const controller = useRef<AbortController | null>(null);
  // A new pruning (or model) starts a new run in the engine: forget the old one's report, stop its loop.
  useEffect(() => {
    controller.current?.abort();
    setReport(null);
  }, [masksKey, model]);
  // Changed settings start a new run too (the engine compares them); say Recover, not Resume.
  useEffect(() => {
    if (!controller.current) setReport((r) => (r && !r.finished ? null : r));
  }, [settings, experiment.calibration.text]);
  const limit = model ? Math.min(model.spec.maxPositions, model.spec.slidingWindow ?? Infinity) - 1 : 2048;
  const trainingText = settings.text ?? experiment.calibration.text;
  const evaluation = experiment.evaluation;
  const sameText = textKey(textRefOf(trainingText)) === textKey(textRefOf(evaluation.text));
  const patch = (p: Partial<Settings>) => setSettings((s) => ({ ...s, ...p }));

  const request = (untilStep: number, restart: boolean): RecoverRequest => ({
    training: { text: textRefOf(trainingText), samples: settings.samples, seqLen: Math.min(settings.seqLen, limit), seed: settings.seed },
    steps: settings.steps,
    lr: settings.lr,
    batch: settings.batch,
    untilStep,
    evaluation: { text: textRefOf(evaluation.text), ctx: evaluation.ctx, maxTokens: evaluation.maxTokens },
    restart,
  });

  /** Asks the engine for chunk after chunk until the run is finished or paused. */
  async function run(restart: boolean) {
    controller.current?.abort();
    const mine = new AbortController();
    controller.current = mine;
    setRunning(true);
    setError(null);
    let step = restart ? 0 : (report?.step ?? 0);
    let first = restart;
    try {
      while (!mine.signal.aborted) {
        const next = await engine.recover(request(step + CHUNK, first), {
          signal: mine.signal,
          onProgress: (p) => setProgress({ message: p.message, done: p.done, total: p.total }),
        });
        first = false;
        step = next.step;
        setReport(next);
        if (next.finished) break;
      }
    } catch (e) {
      const info = errorInfo(e);
      if (info.kind !== 'aborted') setError(info);
    } finally {
      if (controller.current === mine) {
        controller.current = null;
        setRunning(false);
        setProgress(null);
      }
    }
  }

  const download = async () => {
    try {
      for (const f of await engine.exportRecovered({ zip: true })) saveFile(f.path, f.bytes as Uint8Array<ArrayBuffer>);
    } catch (e) {
      setError(errorInfo(e));
    }
  };

  const canRun = Boolean(model?.tokenizer && masksKey) && !running;
  const started = report !== null && report.step > 0;
  return (
    <section className="card lab-section recover" id="recover" aria-labelledby="recover-title">
      <h2 id="recover-title">Recover</h2>
      <p className="lead">
        Fine-tunes the pruned experts toward the dense ones, one MoE layer after the other: for every expert, the squared error between the pruned expert's
        output and the dense expert's output on the tokens the pruned model routes to it. Only the routed experts train; pruned weights stay exactly 0.
      </p>
      {!masksKey && <p className="hint">Prune first: Recover distills the pruned model toward the loaded dense one.</p>}
      <div className="settings">
        <TextPicker label="Training text" value={trainingText} onChange={(text) => patch({ text })} forTask="calibrate" disabled={running} />
        <div className="row">
          <NumberField label="Windows" value={settings.samples} min={1} max={4096} onCommit={(samples) => patch({ samples })} disabled={running} />
          <NumberField
            label="Window (tokens)"
            value={Math.min(settings.seqLen, limit)}
            min={8}
            max={limit}
            onCommit={(seqLen) => patch({ seqLen })}
            disabled={running}
          />
          <NumberField label="Seed" value={settings.seed} min={0} max={4294967295} onCommit={(seed) => patch({ seed })} disabled={running} />
        </div>
        <div className="row">
          <NumberField label="Steps per layer" value={settings.steps} min={1} max={100000} onCommit={(steps) => patch({ steps })} disabled={running} />
          <NumberField label="Learning rate" value={settings.lr} min={1e-6} max={0.1} step={1e-6} onCommit={(lr) => patch({ lr })} disabled={running} />
          <NumberField label="Windows per step" value={settings.batch} min={1} max={64} onCommit={(batch) => patch({ batch })} disabled={running} />
        </div>
      </div>
      {sameText && <p className="hint warn">The training text is also the evaluation text: the recovered perplexity will look better than on unseen text.</p>}
      <div className="row actions">
        {!running && (
          <button type="button" className="primary" disabled={!canRun || (report?.finished ?? false)} onClick={() => void run(!started)}>
            {started ? 'Resume' : 'Recover'}
          </button>
        )}
        {running && (
          <button type="button" onClick={() => controller.current?.abort()}>
            Pause
          </button>
        )}
        <button type="button" disabled={!canRun || !started} onClick={() => void run(true)}>
          Start over
        </button>
        <span className="hint">
          Perplexity is measured on the Evaluate panel's text and windows ({evaluation.ctx} tokens, first {evaluation.maxTokens.toLocaleString('en-US')}).
        </span>
      </div>
      {running && progress && (
        <section className="task" aria-label="Recover in progress" aria-busy="true">
          <p className="task-message">{progress.message}</p>
          <ProgressBar label="Recover" done={progress.done} total={progress.total} unit="steps" />
        </section>
      )}
      {error && (
        <p className="error" role="alert">
          {error.message}
        </p>
      )}
      {report && <RecoverResult report={report} onDownload={() => void download()} />}
    </section>
  );
}

function RecoverResult({ report, onDownload }: { report: RecoverReport; onDownload: () => void }) {
  const { curves } = report;
  const draw = useCallback(
    (onHover: (text: string | null) => void) =>
      drawLines(
        {
          title: 'Expert MSE per step (each layer in turn)',
          series: [...new Set(curves.layer)].map((layer) => ({
            name: `layer ${layer}`,
            points: curves.step.flatMap((x, i) => (curves.layer[i] === layer ? [{ x, y: curves.expert_loss[i] }] : [])),
          })),
          xTitle: 'step',
          yTitle: 'sum of expert MSE',
        },
        onHover,
        760,
        220,
      ),
    [curves],
  );
  const p = report.perplexity;
  return (
    <div className="result" role="region" aria-label="Recover result">
      <p className="hint">
        Step {report.step} of {report.totalSteps} in {report.seconds.toFixed(1)} s; {report.prunedWeights.toLocaleString('en-US')} pruned expert weights held at
        0 (masks from {report.maskSource}).
        {report.layers
          .filter((l) => l.mse_after !== null)
          .map((l) => ` Layer ${l.layer}: expert MSE ${l.mse_before.toPrecision(3)} → ${l.mse_after!.toPrecision(3)}.`)
          .join('')}
      </p>
      {curves.step.length > 0 && (
        <Chart
          label="Distillation loss curves"
          draw={draw}
          caption="Each layer's experts train on that layer's inputs with the layers before it already distilled; the loss is measured before each step's update."
        />
      )}
      {p && (
        <>
          <table className="data-table recover-ppl" aria-label="Perplexity before and after recovery">
            <thead>
              <tr>
                <th scope="col">model</th>
                <th scope="col">perplexity</th>
                <th scope="col">mean NLL (nats)</th>
              </tr>
            </thead>
            <tbody>
              {(['dense', 'pruned', 'distilled'] as const).map((name) => (
                <tr key={name}>
                  <th scope="row">{name}</th>
                  <td data-testid={`recover-ppl-${name}`}>{p[name].ppl.toFixed(4)}</td>
                  <td>{p[name].nll.toFixed(6)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="hint" data-testid="recover-gap">
            {report.gapRecovered === null
              ? 'Pruning did not raise perplexity here: there is no gap to recover.'
              : `Recovered ${(100 * report.gapRecovered).toFixed(1)}% of the perplexity gap (pruned − distilled over pruned − dense), on ${p.dense.tokens.toLocaleString('en-US')} tokens in windows of ${p.ctx}.`}
          </p>
          <button type="button" onClick={onDownload}>
            Download the distilled model (zip)
          </button>
        </>
      )}
    </div>
  );
}
