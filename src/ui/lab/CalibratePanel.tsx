import { useCallback } from 'react';
import type { CalibrationSummary } from '../../api/lab.ts';
import { isHidden } from '../../state/actions.ts';
import { calibrationKey } from '../../state/requests.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { Chart } from '../charts/Chart.tsx';
import { percent } from '../charts/common.ts';
import { drawHeatmap } from '../charts/heatmap.ts';
import { saveFile } from '../download.ts';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { CriteriaView } from './CriteriaView.tsx';
import { SettingField } from './SettingField.tsx';
import { NeedsTokenizer } from './NeedsTokenizer.tsx';
import { TaskView, useRunning } from './TaskView.tsx';
import { TextPicker } from './TextPicker.tsx';

// Labels, limits and modes: the settings vocabulary's (src/engine/experiment/vocabulary.ts).
const S = SETTINGS;

/**
 * Calibration: which text, how many windows of how many tokens, the seed, dense or sequential; progress with
 * Cancel; what the router did on those tokens; the statistics file (the contract's safetensors).
 */
export function CalibratePanel() {
  const calibration = useLab((s) => s.experiment.calibration);
  const model = useLab((s) => s.model);
  const hideSettings = useLab((s) => isHidden(s, 'calibration'));
  const task = useLab((s) => s.tasks.calibrate);
  const currentKey = useLab((s) => calibrationKey(s.experiment, s.model?.contentHash ?? null));
  const running = useRunning('calibrate');
  const actions = useLabActions();
  const canRead = model?.tokenizer ?? false;
  const download = async () => {
    const files = await actions.exportFiles({ kind: 'statistics', zip: false });
    for (const f of files ?? []) saveFile(f.path, f.bytes as Uint8Array<ArrayBuffer>);
  };
  return (
    <section className="card lab-section" id="calibrate" aria-labelledby="calibrate-title">
      <h2 id="calibrate-title">Calibrate</h2>
      <p className="lead">
        Run sample text through the model and record, per expert, how many tokens it got, its gate weights g and the squared norms of its inputs (plain and
        router-weighted, Σ(g·x)²): the statistics Wanda and MoE-Pruner score weights with.
      </p>
      {model && !canRead && <NeedsTokenizer name={model.name} what="Calibration reads text" />}
      {!hideSettings && (
        <div className="settings">
          <TextPicker label="Calibration text" value={calibration.text} forTask="calibrate" onChange={actions.setCalibrationText} disabled={running} />
          <div className="row">
            <SettingField name="samples" disabled={running} />
            <SettingField name="seqLen" disabled={running} />
            <SettingField name="seed" disabled={running} />
          </div>
          <fieldset className="choice stack" disabled={running}>
            <legend>{S.mode.label}</legend>
            {S.mode.values.map((mode) => (
              <label key={mode}>
                <input type="radio" name="calibration-mode" checked={calibration.mode === mode} onChange={() => actions.setCalibrationMode(mode)} />{' '}
                {S.mode.options[mode]}
              </label>
            ))}
          </fieldset>
        </div>
      )}
      <div className="row actions">
        <button type="button" className="primary" disabled={!canRead || running} onClick={() => void actions.calibrate()}>
          Calibrate
        </button>
        {task.result && (
          <button type="button" onClick={() => void download()}>
            Download statistics (.safetensors)
          </button>
        )}
      </div>
      <TaskView task="calibrate" label="Calibration" />
      {task.result && <CalibrationResult summary={task.result} stale={task.key !== currentKey} />}
    </section>
  );
}

function CalibrationResult({ summary, stale }: { summary: CalibrationSummary; stale: boolean }) {
  const experts = summary.layers[0]?.loadFraction.length ?? 0;
  const draw = useCallback(
    (onHover: (text: string | null) => void) =>
      drawHeatmap(
        {
          title: 'Expert load during calibration: share of routed tokens per layer and expert',
          rowLabels: summary.layers.map((l) => `layer ${l.layer}`),
          columnLabels: Array.from({ length: experts }, (_, e) => `${e}`),
          values: summary.layers.map((l) => l.loadFraction),
          xTitle: 'expert',
          yTitle: 'MoE layer',
          valueTitle: 'of routed tokens',
          format: (v) => percent(v),
          describe: (r, c, v) =>
            `layer ${summary.layers[r].layer}, expert ${c}: ${percent(v, 2)} of routed tokens (${summary.layers[r].expertTokens[c]} tokens, mean gate ${(
              summary.layers[r].expertGateSum[c] / Math.max(1, summary.layers[r].expertTokens[c])
            ).toFixed(4)})`,
        },
        onHover,
      ),
    [summary, experts],
  );
  return (
    <div className="result" aria-label="Calibration result" role="region">
      {stale && <p className="hint warn">These statistics come from other settings than the ones above: calibrate again to use them.</p>}
      <p>
        <strong>{summary.tokens.toLocaleString('en-US')} tokens</strong> ({summary.windows} samples of {summary.seqLen}) drawn from a text of{' '}
        {summary.textTokens.toLocaleString('en-US')} tokens, {summary.mode} statistics in {summary.seconds.toFixed(1)} s.
      </p>
      <Chart label="Calibration expert load" draw={draw} caption="A balanced router gives every expert the same share (100% / experts)." />
      <table className="data-table" aria-label="Router balance per layer">
        <thead>
          <tr>
            <th scope="col">MoE layer</th>
            <th scope="col">load spread (std / mean)</th>
            <th scope="col">busiest expert / mean</th>
            <th scope="col">experts under 2% of the load</th>
          </tr>
        </thead>
        <tbody>
          {summary.layers.map((l) => (
            <tr key={l.layer}>
              <td>{l.layer}</td>
              <td>{l.coefficientOfVariation.toFixed(3)}</td>
              <td>{l.maxOverMean.toFixed(2)}×</td>
              <td>{l.lowLoadExperts.length ? l.lowLoadExperts.join(', ') : 'none'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <CriteriaView summary={summary} />
    </div>
  );
}
