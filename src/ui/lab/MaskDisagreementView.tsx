import { useCallback, useState } from 'react';
import type { PruneMethodName } from '../../api/lab.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { Chart } from '../charts/Chart.tsx';
import { percent } from '../charts/common.ts';
import { disagreementData } from '../charts/criteria.ts';
import { drawHeatmap } from '../charts/heatmap.ts';
import { METHODS } from './prune-methods.ts';
import { TaskView, useRunning } from './TaskView.tsx';

/**
 * Where two pruning methods disagree: the masks in force against the masks another method makes with the same
 * settings (Wanda vs MoE-Pruner first), per layer and expert as a heatmap of the share of pruned weights that differ.
 */
export function MaskDisagreementView() {
  const inForce = useLab((s) => s.tasks.prune.result?.method ?? null);
  const report = useLab((s) => s.tasks.compareMasks.result);
  const running = useRunning('compareMasks');
  const { compareMasks } = useLabActions();
  const [other, setOther] = useState<PruneMethodName>(inForce === 'wanda' ? 'moe-pruner' : 'wanda');
  const draw = useCallback(
    (onHover: (text: string | null) => void) => drawHeatmap(disagreementData(report!.comparison.experts, [report!.a, report!.b]), onHover),
    [report],
  );
  if (!inForce) return null;
  return (
    <div className="subsection" role="region" aria-label="Mask disagreement">
      <h3>Where two methods disagree</h3>
      <div className="row">
        <label>
          Compare {inForce} with{' '}
          <select aria-label="Compare with method" value={other} onChange={(e) => setOther(e.target.value as PruneMethodName)} disabled={running}>
            {METHODS.filter((m) => m.id !== inForce).map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </select>
        </label>
        <button type="button" disabled={running} onClick={() => void compareMasks(other)}>
          Compare masks
        </button>
      </div>
      <TaskView task="compareMasks" label="Mask comparison" />
      {report && (
        <>
          <p aria-label="Mask disagreement overall">
            {report.a} and {report.b} disagree on <strong>{percent(report.comparison.overall.disagreement, 2)}</strong> of the pruned weights (
            {report.comparison.overall.onlyA.toLocaleString('en-US')} pruned only by {report.a}, {report.comparison.overall.onlyB.toLocaleString('en-US')} only
            by {report.b}, {report.comparison.overall.both.toLocaleString('en-US')} by both).
          </p>
          {report.comparison.experts.length > 0 && (
            <Chart
              label="Mask disagreement per expert"
              draw={draw}
              caption="|pruned by one xor the other| / (|pruned by A| + |pruned by B|): 0 = the same weights, 1 = disjoint."
            />
          )}
        </>
      )}
    </div>
  );
}
