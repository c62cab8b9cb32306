import { useCallback, useId } from 'react';
import type { PruneSummary } from '../../api/lab.ts';
import { formatPattern, patternSparsity, readPattern, type ExperimentPrune, type PruneMethod } from '../../engine/experiment/schema.ts';
import { PATTERN, SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { formatBytes } from '../../engine/format-bytes.ts';
import { isHidden } from '../../state/actions.ts';
import { pruneKey } from '../../state/requests.ts';
import { useLab, useLabActions, type LabState } from '../../state/store.ts';
import { drawBars } from '../charts/bars.ts';
import { Chart } from '../charts/Chart.tsx';
import { percent } from '../charts/common.ts';
import { drawHeatmap } from '../charts/heatmap.ts';
import { ExportPanel } from './ExportPanel.tsx';
import { METHODS } from './prune-methods.ts';
import { MaskDisagreementView } from './MaskDisagreementView.tsx';
import { QuantizePanel } from './QuantizePanel.tsx';
import { SweepView } from './SweepView.tsx';
import { TaskView, useRunning } from './TaskView.tsx';
import { VariantToggle } from './VariantToggle.tsx';

// Every option, label, limit and default below is the settings vocabulary's (src/engine/experiment/vocabulary.ts).
const S = SETTINGS;

/** A choice row's options, with the vocabulary's labels. */
function Options<V extends string>({ row }: { row: { values: readonly V[]; options: Readonly<Record<V, string>> } }) {
  return row.values.map((v) => (
    <option key={v} value={v}>
      {row.options[v]}
    </option>
  ));
}

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
            <label htmlFor={`${id}-method`}>{S.method.label}</label>
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
            <label htmlFor={`${id}-pattern`}>{PATTERN.label}</label>
            <select
              id={`${id}-pattern`}
              value={formatPattern(prune.pattern)}
              disabled={running}
              onChange={(e) => {
                const pattern = readPattern(e.target.value);
                if ('error' in pattern) return;
                actions.setSparsityPattern(pattern);
                // N:M selects within blocks of one row.
                if (pattern.kind === 'n:m') actions.setPruneGroup('row');
              }}
            >
              {[...new Set([...PATTERN.offered, formatPattern(prune.pattern)])].map((p) => (
                <option key={p} value={p}>
                  {p === 'unstructured' ? 'unstructured' : `${p} (keep ${p.split(':')[0]} of every ${p.split(':')[1]} inputs)`}
                </option>
              ))}
            </select>
          </div>
        )}
        {!hide.sparsity && (
          <div className="row">
            <label htmlFor={`${id}-sparsity`}>{S.sparsity.label}</label>
            <input
              id={`${id}-sparsity`}
              type="range"
              min={S.sparsity.min}
              max={S.sparsity.max}
              step={S.sparsity.step}
              value={nm ? patternSparsity(prune.pattern) : prune.sparsity}
              disabled={running || nm}
              onChange={(e) => actions.setSparsity(Number(e.target.value))}
              aria-valuetext={percent(prune.sparsity, 0)}
            />
            <output htmlFor={`${id}-sparsity`} className="value">
              {nm ? `${percent(patternSparsity(prune.pattern), 0)} (fixed by ${formatPattern(prune.pattern)})` : percent(prune.sparsity, 0)}
            </output>
          </div>
        )}
        {!hide.group && (
          <div className="row">
            <label htmlFor={`${id}-group`}>{S.group.label}</label>
            <select
              id={`${id}-group`}
              value={prune.group}
              disabled={running || nm}
              onChange={(e) => actions.setPruneGroup(e.target.value as ExperimentPrune['group'])}
            >
              <Options row={S.group} />
            </select>
          </div>
        )}
        <div className="row">
          <label htmlFor={`${id}-structure`}>{S.structure.label}</label>
          <select
            id={`${id}-structure`}
            value={prune.structure}
            disabled={running || prune.method === 'sparsegpt'}
            title={S.structure.help}
            onChange={(e) => actions.setSetting('structure', e.target.value)}
          >
            <Options row={S.structure} />
          </select>
        </div>
        {!hide.allocation && (
          <div className="row">
            <label htmlFor={`${id}-alloc`}>{S.allocation.label}</label>
            <select
              id={`${id}-alloc`}
              value={prune.allocation}
              disabled={running}
              onChange={(e) => actions.setAllocation(e.target.value as ExperimentPrune['allocation'])}
            >
              <Options row={S.allocation} />
            </select>
          </div>
        )}
        {!hide.expertDrop && (
          <div className="row">
            <label htmlFor={`${id}-drop`}>{S.expertsDrop.label}</label>
            <input
              id={`${id}-drop`}
              type="number"
              min={S.expertsDrop.min}
              max={maxDrop}
              value={prune.expertsDrop}
              disabled={running}
              onChange={(e) => actions.setExpertsDrop(Math.min(Number(e.target.value), maxDrop))}
            />
            <label htmlFor={`${id}-crit`}>{S.expertCriterion.label}</label>
            <select
              id={`${id}-crit`}
              value={prune.expertCriterion}
              disabled={running || prune.expertsDrop === 0}
              onChange={(e) => actions.setExpertCriterion(e.target.value as ExperimentPrune['expertCriterion'])}
            >
              <Options row={S.expertCriterion} />
            </select>
            <label htmlFor={`${id}-protect`}>{S.protect.label}</label>
            <select
              id={`${id}-protect`}
              value={prune.protect}
              disabled={running || prune.method === 'sparsegpt'}
              title={S.protect.help}
              onChange={(e) => actions.setProtect(e.target.value as ExperimentPrune['protect'])}
            >
              <Options row={S.protect} />
            </select>
          </div>
        )}
        {!hide.targets && (
          <fieldset className="row choice" disabled={running}>
            <legend>{S.targets.label}</legend>
            {S.targets.values.map((t) => (
              <label key={t}>
                <input
                  type="checkbox"
                  checked={prune.targets.includes(t)}
                  disabled={t === 'shared' && !model?.spec.sharedExpert}
                  onChange={(e) => actions.setPruneTargets(e.target.checked ? [...prune.targets, t] : prune.targets.filter((x) => x !== t))}
                />{' '}
                {S.targets.options[t]}
              </label>
            ))}
          </fieldset>
        )}
      </div>
      {prune.method === 'sparsegpt' && (
        <>
          <div className="row">
            <label htmlFor={`${id}-blocksize`}>{S.blockSize.label}</label>
            <input
              id={`${id}-blocksize`}
              type="number"
              min={S.blockSize.min}
              max={S.blockSize.max}
              value={prune.sparseGpt.blockSize}
              disabled={running}
              onChange={(e) => actions.setSparseGpt({ blockSize: Number(e.target.value) })}
            />
            <label htmlFor={`${id}-damp`}>{S.damp.label}</label>
            <input
              id={`${id}-damp`}
              type="number"
              min={S.damp.min}
              max={S.damp.max}
              step={S.damp.step}
              value={prune.sparseGpt.damp}
              disabled={running}
              onChange={(e) => actions.setSparseGpt({ damp: Number(e.target.value) })}
            />
          </div>
          <p className="hint">
            SparseGPT prunes the expert FFNs (routed{model?.spec.sharedExpert && prune.targets.includes('shared') ? ' and shared' : ''}) row-wise in blocks and
            updates the kept weights to compensate (Frantar &amp; Alistarh 2023); attention stays dense. Masks are chosen per block of that many columns;
            dampening adds that fraction of the mean Hessian diagonal before inverting.
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
      <MaskDisagreementView />
      <QuantizePanel />
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
        {summary.neurons && ` Every routed expert keeps ${summary.neurons.keptFfn} of its ${summary.neurons.ffn} neurons.`}
      </p>
      {summary.accounting && (
        <p className="hint" data-testid="prune-accounting">
          Weights on disk {formatBytes(summary.accounting.dense.diskBytes)} → {formatBytes(summary.accounting.pruned.diskBytes)} in the export; on the GPU{' '}
          {formatBytes(summary.accounting.dense.gpuBytes)} → {formatBytes(summary.accounting.pruned.gpuBytes)} (here, masks on the dense model:{' '}
          {formatBytes(summary.accounting.masksInLab.gpuBytes)}); read per token {formatBytes(summary.accounting.dense.readPerTokenBytes)} →{' '}
          {formatBytes(summary.accounting.pruned.readPerTokenBytes)}.
        </p>
      )}
      <Chart label="Achieved sparsity per layer" draw={perLayer} />
      {moeLayers.length > 0 && <Chart label="Achieved sparsity per expert" draw={perExpert} />}
    </div>
  );
}
