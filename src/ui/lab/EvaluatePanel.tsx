import { useCallback, useState } from 'react';
import type { EvaluateReport } from '../../api/lab.ts';
import { isCurrent } from '../../state/lab-actions.ts';
import { evaluateKey } from '../../state/requests.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import type { FidelityResult } from '../../engine/eval/fidelity.ts';
import { drawBars } from '../charts/bars.ts';
import { percent } from '../charts/common.ts';
import { Chart } from '../charts/Chart.tsx';
import { saveFile } from '../download.ts';
import { GenerationView } from './GenerationView.tsx';
import { NeedsTokenizer } from './NeedsTokenizer.tsx';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { SettingField } from './SettingField.tsx';
import { perplexityCsv } from './reports.ts';
import { TaskView, useRunning } from './TaskView.tsx';
import { TextPicker } from './TextPicker.tsx';
import { TokenLossView } from './TokenLossView.tsx';

// Labels and limits: the settings vocabulary's (src/engine/experiment/vocabulary.ts).
const S = SETTINGS;

/**
 * Evaluation: dense vs pruned perplexity on the same held-out windows (per genre), which tokens got harder, and
 * the two models continuing one prompt side by side.
 */
export function EvaluatePanel() {
  const model = useLab((s) => s.model);
  const evaluation = useLab((s) => s.experiment.evaluation);
  const task = useLab((s) => s.tasks.evaluate);
  const masksKey = useLab((s) => s.masksKey);
  const running = useRunning('evaluate');
  const actions = useLabActions();
  const [byGenre, setByGenre] = useState(true);
  const currentKey = useLab((s) => evaluateKey(s.experiment, s.model?.contentHash ?? null, s.masksKey, byGenre));
  const limit = model ? Math.min(model.spec.maxPositions, model.spec.slidingWindow ?? Infinity, S.ctx.max) : S.ctx.max;
  const canRead = model?.tokenizer ?? false;
  return (
    <section className="card lab-section" id="evaluate" aria-labelledby="evaluate-title">
      <h2 id="evaluate-title">Evaluate</h2>
      <p className="lead">
        Perplexity is exp(mean next-token loss) on held-out text the model did not train on: lower is better. The dense and the pruned model read exactly the
        same windows.
      </p>
      {model && !canRead && <NeedsTokenizer name={model.name} what="Perplexity is measured on text" />}
      <div className="settings">
        <TextPicker label="Evaluation text" value={evaluation.text} onChange={actions.setEvaluationText} forTask="evaluate" disabled={running} />
        <div className="row">
          <SettingField name="ctx" max={limit} disabled={running} />
          <SettingField name="evalTokens" disabled={running} />
          <label className="check">
            <input type="checkbox" checked={byGenre} onChange={(e) => setByGenre(e.target.checked)} disabled={running} /> per genre (split evenly)
          </label>
        </div>
      </div>
      <div className="row actions">
        <button type="button" className="primary" disabled={!canRead || running || evaluation.ctx > limit} onClick={() => void actions.evaluate(byGenre)}>
          Evaluate
        </button>
        <span className="hint">{masksKey ? 'Measures the dense and the pruned model.' : 'Nothing is pruned yet: measures the dense model.'}</span>
      </div>
      {evaluation.ctx > limit && <p className="hint warn">The window is longer than the model's context ({limit} tokens).</p>}
      <TaskView task="evaluate" label="Perplexity" />
      {task.result && <PerplexityResult report={task.result} stale={!isCurrent(task, currentKey)} />}
      <TokenLossView />
      <GenerationView />
    </section>
  );
}

function PerplexityResult({ report, stale }: { report: EvaluateReport; stale: boolean }) {
  const dense = report.results.find((r) => r.variant === 'dense');
  const pruned = report.results.find((r) => r.variant === 'pruned');
  const genres = report.results[0].genres;
  const draw = useCallback(
    (onHover: (text: string | null) => void) =>
      drawBars(
        {
          title: 'Perplexity per genre, dense vs pruned',
          categories: genres.map((g) => g.name),
          series: report.results.map((r) => ({ name: r.variant === 'dense' ? 'dense' : 'pruned', values: r.genres.map((g) => g.ppl) })),
          xTitle: 'genre',
          yTitle: 'perplexity',
          rotateLabels: true,
        },
        onHover,
        760,
        200,
      ),
    [report, genres],
  );
  const change = dense && pruned ? pruned.overall.ppl / dense.overall.ppl - 1 : null;
  const fidelity = report.fidelity;
  return (
    <div className="result" role="region" aria-label="Perplexity result">
      {stale && <p className="hint warn">These numbers come from other settings or masks than the current ones: evaluate again.</p>}
      <table className="data-table" aria-label="Perplexity">
        <thead>
          <tr>
            <th scope="col">model</th>
            <th scope="col">perplexity</th>
            <th scope="col">mean NLL (nats)</th>
            <th scope="col">tokens scored</th>
            {fidelity && <th scope="col">KL from dense (nats/token)</th>}
            {fidelity && <th scope="col">top-1 agreement</th>}
          </tr>
        </thead>
        <tbody>
          {report.results.map((r) => (
            <tr key={r.variant}>
              <th scope="row">{r.variant}</th>
              <td data-testid={`ppl-${r.variant}`}>{r.overall.ppl.toFixed(4)}</td>
              <td>{r.overall.nll.toFixed(6)}</td>
              <td>{r.overall.tokens.toLocaleString('en-US')}</td>
              {fidelity && <td data-testid={`kl-${r.variant}`}>{r.variant === 'pruned' ? fidelity.overall.kl.toFixed(6) : '0'}</td>}
              {fidelity && <td data-testid={`top1-${r.variant}`}>{r.variant === 'pruned' ? percent(fidelity.overall.top1Agreement, 2) : '100%'}</td>}
            </tr>
          ))}
        </tbody>
      </table>
      {fidelity && <FidelityNote fidelity={fidelity.overall} />}
      <p className="hint">
        Windows of {report.ctx} tokens, {report.seconds.toFixed(1)} s.
        {change !== null && ` Pruning changed perplexity by ${change >= 0 ? '+' : ''}${(change * 100).toFixed(2)}%.`}
      </p>
      {genres.length > 0 && <Chart label="Perplexity per genre" draw={draw} />}
      {fidelity && fidelity.genres.length > 0 && dense && pruned && <GenreFidelity report={report} />}
      <button type="button" onClick={() => saveFile('perplexity.csv', perplexityCsv(report), 'text/csv')}>
        Download perplexity (CSV)
      </button>
    </div>
  );
}

/** Where the pruned model's top-1 prediction first leaves the dense model's, per window (src/engine/eval/fidelity.ts). */
function FidelityNote({ fidelity }: { fidelity: FidelityResult }) {
  const { firstDisagreementMedian: median, firstDisagreementMean: mean, windows, windowsAgreeing } = fidelity;
  return (
    <p className="hint" data-testid="first-disagreement">
      KL(p_dense ‖ p_pruned) is the mean over the scored tokens; top-1 agreement the share of them where both models predict the same next token.{' '}
      {median === null
        ? `In all ${windows} windows the two models predict the same next token throughout.`
        : `The first prediction that differs comes at position ${median} of a window (median; mean ${mean!.toFixed(1)}); ${windowsAgreeing} of ${windows} windows never differ.`}
    </p>
  );
}

/** Dense and pruned perplexity with KL and top-1 agreement, one row per genre. */
function GenreFidelity({ report }: { report: EvaluateReport }) {
  const dense = report.results.find((r) => r.variant === 'dense')!;
  const pruned = report.results.find((r) => r.variant === 'pruned')!;
  return (
    <table className="data-table" aria-label="Fidelity per genre">
      <thead>
        <tr>
          <th scope="col">genre</th>
          <th scope="col">dense perplexity</th>
          <th scope="col">pruned perplexity</th>
          <th scope="col">KL (nats/token)</th>
          <th scope="col">top-1 agreement</th>
        </tr>
      </thead>
      <tbody>
        {report.fidelity!.genres.map((g) => (
          <tr key={g.id}>
            <th scope="row">{g.name}</th>
            <td>{dense.genres.find((x) => x.id === g.id)?.ppl.toFixed(2)}</td>
            <td>{pruned.genres.find((x) => x.id === g.id)?.ppl.toFixed(2)}</td>
            <td>{g.kl.toFixed(4)}</td>
            <td>{percent(g.top1Agreement, 1)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
