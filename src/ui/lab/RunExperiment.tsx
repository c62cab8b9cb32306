import { formatPattern } from '../../engine/experiment/schema.ts';
import { percent } from '../charts/common.ts';
import { useLab, useLabActions } from '../../state/store.ts';

/**
 * The experiment in one line, with the button that runs it end to end (prune, calibrating as needed, then dense
 * and pruned perplexity): what someone who opened a shared link presses to get the same masks and numbers.
 */
export function RunExperiment() {
  const experiment = useLab((s) => s.experiment);
  const model = useLab((s) => s.model);
  const busy = useLab((s) => s.tasks.prune.running !== null || s.tasks.evaluate.running !== null || s.tasks.calibrate.running !== null);
  const { runExperiment } = useLabActions();
  const { calibration: c, prune: p, evaluation: e } = experiment;
  const text = (t: typeof c.text) => (t.kind === 'pasted' ? `pasted text ${t.hash}` : t.id);
  const pattern = p.pattern.kind === 'unstructured' ? `${percent(p.sparsity, 0)} unstructured` : formatPattern(p.pattern);
  return (
    <section className="run-experiment" aria-label="Experiment">
      <p>
        <strong>Experiment:</strong> {p.method} at {pattern} ({p.group} groups, {p.allocation}
        {p.expertsDrop ? `, ${p.expertsDrop} experts dropped per layer by ${p.expertCriterion}` : ''}; {p.targets.join(', ')}), calibrated on {c.samples} ×{' '}
        {c.seqLen} tokens of {text(c.text)} (seed {c.seed}, {c.mode}); perplexity on {e.maxTokens.toLocaleString('en-US')} tokens of {text(e.text)} in windows
        of {e.ctx}.
      </p>
      <button type="button" className="primary" disabled={!model?.tokenizer || busy} onClick={() => void runExperiment()}>
        Reproduce this experiment
      </button>
    </section>
  );
}
