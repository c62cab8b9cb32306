import { useCallback, useId } from 'react';
import type { PruneSummary } from '../../api/lab.ts';
import { formatPattern, LIMITS, type ExperimentPrune, type PruneMethod } from '../../engine/experiment/schema.ts';
import { isHidden } from '../../state/actions.ts';
import { pruneKey } from '../../state/requests.ts';
import { useLab, useLabActions, type LabState } from '../../state/store.ts';
import { drawBars } from '../charts/bars.ts';
import { Chart } from '../charts/Chart.tsx';
import { percent } from '../charts/common.ts';
import { drawHeatmap } from '../charts/heatmap.ts';
import { ExportPanel } from './ExportPanel.tsx';
import { METHODS } from './prune-methods.ts';
import { SweepView } from './SweepView.tsx';
import { TaskView, useRunning } from './TaskView.tsx';
import { VariantToggle } from './VariantToggle.tsx';

const PATTERNS = ['unstructured', '2:4', '4:8'];

const hidden = (control: Parameters<typeof isHidden>[1]) => (s: LabState) => isHidden(s, control);

/**
 * Pruning: the method and its settings (sparsity, N:M pattern, comparison group, OWL allocation, experts dropped
 * and by which criterion, which weights), the achieved sparsity per layer and expert, the dense <-> pruned switch,
 * a sweep, and the downloads.
 */
export function PrunePanel() {
  const prune = useLab((s) => s.experiment.prune);
  const model = useLab((s) => s.model);
  const task = useLab((s) => s.tasks.prune);
  const currentKey = useLab((s) => pruneKey(s.experiment, s.model?.contentHash ?? null));
  const masksKey = useLab((s) => s.masksKey);
  const running = useRunning('prune');
  const actions = useLabActions();
  const hide = {
    method: useLab(hidden('method')),
    sparsity: useLab(hidden('sparsity')),
    pattern: useLab(hidden('pattern')),
    group: useLab(hidden('group')),
    allocation: useLab(hidden('allocation')),
    expertDrop: useLab(hidden('expert-drop')),
    targets: useLab(hidden('targets')),
  };
  const id = useId();
  const experts = model?.spec.numExperts ?? 8;
  // At least top-k experts must remain, or routing slots would go empty (the pipeline refuses more).
  const maxDrop = Math.max(0, experts - (model?.spec.topK ?? 1));
  const nm = prune.pattern.kind === 'n:m';
  const method = METHODS.find((m) => m.id === prune.method)!;
  const canRead = model?.tokenizer ?? false;
  const needsText = method.needsStats || prune.expertsDrop > 0;
  return (
    <section className="card lab-section" id="prune" aria-labelledby="prune-title">
      <h2 id="prune-title">Prune</h2>
      <p className="lead">
        Set weights to zero where they matter least. MoE-Pruner scores each weight by its size times how strongly the router-weighted inputs use its column;
        Wanda leaves the router out. Masks are applied on the fly, so the dense model stays one click away.
      </p>
      <div className="settings prune-settings">
        {!hide.method && (
          <div className="row">
            <label htmlFor={`${id}-method`}>Method</label>
            <select id={`${id}-method`} value={prune.method} disabled={running} onChange={(e) => actions.setPruneMethod(e.target.value as PruneMethod)}>
              {METHODS.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.label}
                </option>
              ))}
            </select>
          </div>
        )}
        {!hide.pattern && (
          <div className="row">
            <label htmlFor={`${id}-pattern`}>Pattern</label>
            <select
              id={`${id}-pattern`}
              value={formatPattern(prune.pattern)}
              disabled={running}
              onChange={(e) => {
                const [n, m] = e.target.value.split(':').map(Number);
                actions.setSparsityPattern(e.target.value === 'unstructured' ? { kind: 'unstructured' } : { kind: 'n:m', n, m });
                if (e.target.value !== 'unstructured') actions.setPruneGroup('row');
              }}
            >
              {[...new Set([...PATTERNS, formatPattern(prune.pattern)])].map((p) => (
                <option key={p} value={p}>
                  {p === 'unstructured' ? 'unstructured' : `${p} (keep ${p.split(':')[0]} of every ${p.split(':')[1]} inputs)`}
                </option>
              ))}
            </select>
          </div>
        )}
        {!hide.sparsity && (
          <div className="row">
            <label htmlFor={`${id}-sparsity`}>Sparsity</label>
            <input
              id={`${id}-sparsity`}
              type="range"
              min={0}
              max={0.95}
              step={0.05}
              value={nm && prune.pattern.kind === 'n:m' ? 1 - prune.pattern.n / prune.pattern.m : prune.sparsity}
              disabled={running || nm}
              onChange={(e) => actions.setSparsity(Number(e.target.value))}
              aria-valuetext={percent(prune.sparsity, 0)}
            />
            <output htmlFor={`${id}-sparsity`} className="value">
              {nm && prune.pattern.kind === 'n:m'
                ? `${percent(1 - prune.pattern.n / prune.pattern.m, 0)} (fixed by ${formatPattern(prune.pattern)})`
                : percent(prune.sparsity, 0)}
            </output>
          </div>
        )}
        {!hide.group && (
          <div className="row">
            <label htmlFor={`${id}-group`}>Compare weights within</label>
            <select
              id={`${id}-group`}
              value={prune.group}
              disabled={running || nm}
              onChange={(e) => actions.setPruneGroup(e.target.value as ExperimentPrune['group'])}
            >
              <option value="row">each output row (Wanda, MoE-Pruner)</option>
              <option value="matrix">each matrix</option>
              <option value="layer">each layer</option>
            </select>
          </div>
        )}
        {!hide.allocation && (
          <div className="row">
            <label htmlFor={`${id}-alloc`}>Sparsity per layer</label>
            <select
              id={`${id}-alloc`}
              value={prune.allocation}
              disabled={running}
              onChange={(e) => actions.setAllocation(e.target.value as ExperimentPrune['allocation'])}
            >
              <option value="uniform">uniform</option>
              <option value="owl">OWL: less where activations have outliers (Yin et al. 2023)</option>
            </select>
          </div>
        )}
        {!hide.expertDrop && (
          <div className="row">
            <label htmlFor={`${id}-drop`}>Experts dropped per layer</label>
            <input
              id={`${id}-drop`}
              type="number"
              min={0}
              max={maxDrop}
              value={prune.expertsDrop}
              disabled={running}
              onChange={(e) => actions.setExpertsDrop(Math.min(Number(e.target.value), maxDrop))}
            />
            <label htmlFor={`${id}-crit`}>chosen by</label>
            <select
              id={`${id}-crit`}
              value={prune.expertCriterion}
              disabled={running || prune.expertsDrop === 0}
              onChange={(e) => actions.setExpertCriterion(e.target.value as ExperimentPrune['expertCriterion'])}
            >
              <option value="frequency">fewest routed tokens</option>
              <option value="gate">smallest total gate weight</option>
              <option value="reap">REAP: smallest router-weighted output norm</option>
            </select>
          </div>
        )}
        {!hide.targets && (
          <fieldset className="row choice" disabled={running}>
            <legend>Prune</legend>
            {(['experts', 'attention', 'shared'] as const).map((t) => (
              <label key={t}>
                <input
                  type="checkbox"
                  checked={prune.targets.includes(t)}
                  disabled={t === 'shared' && !model?.spec.sharedExpert}
                  onChange={(e) => actions.setPruneTargets(e.target.checked ? [...prune.targets, t] : prune.targets.filter((x) => x !== t))}
                />{' '}
                {t === 'experts' ? 'routed experts' : t === 'attention' ? 'attention' : 'shared expert'}
              </label>
            ))}
          </fieldset>
        )}
      </div>
      {prune.method === 'sparsegpt' && (
        <>
          <div className="row">
            <label htmlFor={`${id}-blocksize`}>Block width (columns)</label>
            <input
              id={`${id}-blocksize`}
              type="number"
              min={LIMITS.blockSize.min}
              max={LIMITS.blockSize.max}
              value={prune.sparseGpt.blockSize}
              disabled={running}
              onChange={(e) => actions.setSparseGpt({ blockSize: Number(e.target.value) })}
            />
            <label htmlFor={`${id}-damp`}>Dampening</label>
            <input
              id={`${id}-damp`}
              type="number"
              min={LIMITS.damp.min}
              max={LIMITS.damp.max}
              step={0.005}
              value={prune.sparseGpt.damp}
              disabled={running}
              onChange={(e) => actions.setSparseGpt({ damp: Number(e.target.value) })}
            />
          </div>
          <p className="hint">
            SparseGPT prunes the expert FFNs (routed{model?.spec.sharedExpert ? ' and shared' : ''}) row-wise in blocks and updates the kept weights to
            compensate (Frantar &amp; Alistarh 2023); attention stays dense. Masks are chosen per block of that many columns; dampening adds that fraction of
            the mean Hessian diagonal before inverting.
          </p>
        </>
      )}
      {model && needsText && !canRead && (
        <p className="notice" role="note">
          {method.needsStats
            ? `${method.label.split(':')[0]} scores weights with calibration statistics`
            : 'Choosing experts to drop needs calibration statistics'}
          , which need text, and {model.name} has no tokenizer. Magnitude and random pruning (without dropping experts) work without one.
        </p>
      )}
      <div className="row actions">
        <button type="button" className="primary" disabled={!model || running || (needsText && !canRead)} onClick={() => void actions.prune()}>
          Prune
        </button>
        {masksKey && (
          <>
            <VariantToggle />
            <button type="button" className="link-button" onClick={() => void actions.clearMasks()}>
              Remove the masks
            </button>
          </>
        )}
      </div>
      <TaskView task="prune" label="Pruning" />
      {task.result && <PruneResult summary={task.result} stale={task.key !== currentKey} />}
      <SweepView />
      <ExportPanel />
    </section>
  );
}

function PruneResult({ summary, stale }: { summary: PruneSummary; stale: boolean }) {
  const moeLayers = summary.layers.filter((l) => l.experts.length > 0);
  const kinds = [...new Set(summary.layers.flatMap((l) => l.matrices.map((m) => m.name)))];
  const perLayer = useCallback(
    (onHover: (text: string | null) => void) =>
      drawBars(
        {
          title: 'Achieved sparsity per layer and matrix',
          categories: summary.layers.map((l) => `layer ${l.layer}`),
          series: kinds.map((kind) => ({
            name: kind,
            values: summary.layers.map((l) => {
              const m = l.matrices.find((x) => x.name === kind);
              return m && m.weights ? m.pruned / m.weights : NaN;
            }),
          })),
          xTitle: 'layer',
          yTitle: 'share of weights pruned',
          format: (v) => percent(v),
          yDomain: [0, 1],
        },
        onHover,
        720,
        180,
      ),
    [summary, kinds],
  );
  const perExpert = useCallback(
    (onHover: (text: string | null) => void) =>
      drawHeatmap(
        {
          title: 'Achieved sparsity per layer and expert (dropped experts: 100%)',
          rowLabels: moeLayers.map((l) => `layer ${l.layer}`),
          columnLabels: moeLayers[0]?.experts.map((_, e) => `${e}`) ?? [],
          values: moeLayers.map((l) => l.experts.map((x) => (x.weights ? x.pruned / x.weights : 0))),
          xTitle: 'expert',
          yTitle: 'MoE layer',
          valueTitle: 'pruned',
          domain: [0, 1],
          format: (v) => percent(v, 0),
          describe: (r, c, v) => {
            const x = moeLayers[r].experts[c];
            const dropped = moeLayers[r].droppedExperts.includes(c) ? ' (dropped)' : '';
            return `layer ${moeLayers[r].layer}, expert ${c}${dropped}: ${percent(v, 2)} pruned, ${x.pruned.toLocaleString('en-US')} of ${x.weights.toLocaleString('en-US')} weights`;
          },
        },
        onHover,
      ),
    [moeLayers],
  );
  return (
    <div className="result" role="region" aria-label="Pruning result">
      {stale && <p className="hint warn">These masks come from other settings than the ones above: prune again to apply them.</p>}
      <p>
        <strong data-testid="achieved-sparsity">{percent(summary.overall.pruned / Math.max(1, summary.overall.weights), 2)}</strong> of{' '}
        {summary.overall.weights.toLocaleString('en-US')} weights pruned with {summary.method} in {summary.seconds.toFixed(1)} s
        {summary.calibration ? ` (calibrated first on ${summary.calibration.tokens.toLocaleString('en-US')} tokens)` : ''}.
        {moeLayers.some((l) => l.droppedExperts.length) &&
          ` Dropped experts: ${moeLayers
            .filter((l) => l.droppedExperts.length)
            .map((l) => `layer ${l.layer}: ${l.droppedExperts.join(', ')}`)
            .join('; ')}.`}
      </p>
      <Chart label="Achieved sparsity per layer" draw={perLayer} />
      {moeLayers.length > 0 && <Chart label="Achieved sparsity per expert" draw={perExpert} />}
    </div>
  );
}
