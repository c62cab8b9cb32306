import { useCallback } from 'react';
import type { RecoverReport } from '../../api/recover.ts';
import { textKey, textRefOf } from '../../engine/experiment/text-ref.ts';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { contextLimit } from '../../engine/model/spec.ts';
import { recoverKeyOf } from '../../state/requests.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { Chart } from '../charts/Chart.tsx';
import { drawLines } from '../charts/lines.ts';
import { saveFile } from '../download.ts';
import { SettingField } from '../lab/SettingField.tsx';
import { TextPicker } from '../lab/TextPicker.tsx';
import { ProgressBar } from '../ProgressBar.tsx';
import './RecoverPanel.css';

const S = SETTINGS;

/**
 * Recover: expert-wise knowledge distillation of the pruned model toward the dense one (MoE-Pruner, Xie et al.
 * 2024, sec. 3.3), MoE layer by MoE layer, masks kept — every pruned weight stays exactly 0. A task like the others:
 * its settings are the experiment's (and the share link's), the named actions run it in chunks of steps (the curves
 * draw as it trains; Pause / Resume continue the same run), and its report is current while the model, the masks
 * and the settings are those it was computed from. When finished: the dense, pruned and distilled perplexities on
 * the Evaluate panel's windows side by side.
 */
export function RecoverPanel() {
  const model = useLab((s) => s.model);
  const masksKey = useLab((s) => s.masksKey);
  const experiment = useLab((s) => s.experiment);
  const task = useLab((s) => s.tasks.recover);
  const key = useLab(recoverKeyOf);
  const actions = useLabActions();
  const settings = experiment.recover;
  const running = task.running !== null;
  // A report of other settings, masks or model is not this run's: Recover starts over then.
  const report = task.key === key ? task.result : null;
  const limit = model ? contextLimit(model.spec) - 1 : S.recoverSeqLen.max;
  const trainingText = settings.text ?? experiment.calibration.text;
  const evaluation = experiment.evaluation;
  const sameText = textKey(textRefOf(trainingText)) === textKey(textRefOf(evaluation.text));
  const progress = task.running?.progress ?? null;

  const download = async () => {
    const files = await actions.exportRecovered();
    for (const f of files ?? []) saveFile(f.path, f.bytes as Uint8Array<ArrayBuffer>);
  };

  const canRun = Boolean(model?.tokenizer && masksKey) && !running;
  const started = report !== null && report.step > 0;
  const error = task.error;
  return (
    <section className="card lab-section recover" id="recover" aria-labelledby="recover-title">
      <h2 id="recover-title">Recover</h2>
      <p className="lead">
        Fine-tunes the pruned experts toward the dense ones, one MoE layer after the other: for every expert, the squared error between the pruned expert's
        output and the dense expert's output on the tokens the pruned model routes to it. Only the routed experts train; pruned weights stay exactly 0.
      </p>
      {!masksKey && <p className="hint">Prune first: Recover distills the pruned model toward the loaded dense one.</p>}
      <div className="settings">
        <TextPicker label="Training text" value={trainingText} onChange={(text) => actions.setRecoverText(text)} forTask="calibrate" disabled={running} />
        <div className="row">
          <SettingField name="recoverSamples" disabled={running} />
          <SettingField name="recoverSeqLen" max={limit} disabled={running} />
          <SettingField name="recoverSeed" disabled={running} />
        </div>
        <div className="row">
          <SettingField name="recoverSteps" disabled={running} />
          <SettingField name="recoverLr" disabled={running} />
          <SettingField name="recoverBatch" disabled={running} />
        </div>
      </div>
      {sameText && <p className="hint warn">The training text is also the evaluation text: the recovered perplexity will look better than on unseen text.</p>}
      <div className="row actions">
        {!running && (
          <button type="button" className="primary" disabled={!canRun || (report?.finished ?? false)} onClick={() => void actions.recover(!started)}>
            {started ? 'Resume' : 'Recover'}
          </button>
        )}
        {running && (
          <button type="button" onClick={() => actions.pauseRecover()}>
            Pause
          </button>
        )}
        <button type="button" disabled={!canRun || !started} onClick={() => void actions.recover(true)}>
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
