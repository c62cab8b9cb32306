import { useState } from 'react';
import { reproduceBenchmark } from '../../api/experiment-requests.ts';
import { formatPattern } from '../../engine/experiment/schema.ts';
import { percent } from '../charts/common.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { benchmarkInput } from './benchmark-inputs.ts';

/**
 * The experiment in one line, with the button that runs it end to end (prune, calibrating as needed, then dense
 * and pruned perplexity, and the benchmark when the link names one): what someone who opened a shared link presses
 * to get the same masks and numbers. After a run with a benchmark, its accuracy shows beside the perplexities with
 * the digits `moe-lab run` prints.
 */
export function RunExperiment() {
  const experiment = useLab((s) => s.experiment);
  const model = useLab((s) => s.model);
  const evaluation = useLab((s) => s.tasks.evaluate.result);
  const scored = useLab((s) => s.tasks.benchmark.result);
  const busy = useLab(
    (s) => s.tasks.prune.running !== null || s.tasks.evaluate.running !== null || s.tasks.calibrate.running !== null || s.tasks.benchmark.running !== null,
  );
  const { runExperiment } = useLabActions();
  // The selection the last Reproduce scored (null: none), and why its task file could not be had.
  const [reproduced, setReproduced] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const { calibration: c, prune: p, evaluation: e } = experiment;
  const text = (t: typeof c.text) => (t.kind === 'pasted' ? `pasted text ${t.hash}` : t.id);
  const pattern = p.pattern.kind === 'unstructured' ? `${percent(p.sparsity, 0)} unstructured` : formatPattern(p.pattern);
  const bench = reproduceBenchmark(experiment);
  const benchName = (t: NonNullable<typeof bench>['tasks']) => (t.kind === 'pasted' ? `pasted:${t.hash}` : t.id);

  const reproduce = async () => {
    setProblem(null);
    setReproduced(null);
    if (!bench) return runExperiment();
    try {
      // The task file first, as `moe-lab run` does: a file the page does not have stops the run before it starts.
      const input = await benchmarkInput(bench.tasks);
      await runExperiment(undefined, { tasks: [input], limit: bench.limit });
      setReproduced(benchName(bench.tasks));
    } catch (error) {
      setProblem((error as Error).message);
    }
  };

  const ppl = (variant: string) => evaluation?.results.find((r) => r.variant === variant)?.overall.ppl;
  const acc = (variant: string) => scored?.results.find((r) => r.variant === variant)?.accuracy;
  const dense = acc('dense');
  const pruned = acc('pruned');
  return (
    <section className="run-experiment" aria-label="Experiment">
      <p>
        <strong>Experiment:</strong> {p.method} at {pattern} ({p.group} groups, {p.allocation}
        {p.expertsDrop ? `, ${p.expertsDrop} experts dropped per layer by ${p.expertCriterion}` : ''}; {p.targets.join(', ')}), calibrated on {c.samples} ×{' '}
        {c.seqLen} tokens of {text(c.text)} (seed {c.seed}, {c.mode}); perplexity on {e.maxTokens.toLocaleString('en-US')} tokens of {text(e.text)} in windows
        of {e.ctx}
        {bench ? `; benchmark ${benchName(bench.tasks)} (limit ${bench.limit})` : ''}.
      </p>
      <button type="button" className="primary" disabled={!model?.tokenizer || busy} onClick={() => void reproduce()}>
        Reproduce this experiment
      </button>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      {reproduced && dense !== undefined && pruned !== undefined && (
        <p data-testid="reproduced-benchmark">
          Perplexity dense {ppl('dense')?.toFixed(4)}, pruned {ppl('pruned')?.toFixed(4)}; benchmark {reproduced} accuracy dense {percent(dense, 2)}, pruned{' '}
          {percent(pruned, 2)}
        </p>
      )}
    </section>
  );
}
