import { useState } from 'react';
import type { Sampling } from '../../api/lab.ts';
import { LESSON_GENERATION } from '../../engine/experiment/vocabulary.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { NumberField } from './NumberField.tsx';
import { SteeringControls } from './SteeringControls.tsx';
import { TaskView, useRunning } from './TaskView.tsx';

/**
 * One prompt continued by the dense and the pruned model side by side, greedy or sampled with a seed, and by the
 * dense model with experts switched off or forced (steering); each column with its next-token probabilities.
 */
export function GenerationView() {
  const slots = useLab((s) => s.tasks.generate.result);
  const canRead = useLab((s) => s.model?.tokenizer ?? false);
  const running = useRunning('generate');
  const { generate, setSteering, setForcedExperts } = useLabActions();
  const [prompt, setPrompt] = useState<string>(LESSON_GENERATION.prompt);
  const [newTokens, setNewTokens] = useState(32);
  const [mode, setMode] = useState<'greedy' | 'sample'>('greedy');
  const [seed, setSeed] = useState(0);
  const [temperature, setTemperature] = useState(0.8);
  const steering = useLab((s) => s.experiment.evaluation.disabledExperts);
  const forced = useLab((s) => s.experiment.evaluation.forcedExperts);
  const sampling: Sampling = mode === 'greedy' ? { kind: 'greedy' } : { kind: 'sample', seed, temperature };
  return (
    <div className="subsection" role="region" aria-label="Generation">
      <h3>Generate from one prompt</h3>
      <label htmlFor="gen-prompt">Prompt</label>
      <textarea id="gen-prompt" rows={2} value={prompt} onChange={(e) => setPrompt(e.target.value)} disabled={running} />
      <div className="row">
        <NumberField label="New tokens" value={newTokens} min={1} max={512} onCommit={setNewTokens} disabled={running} />
        <fieldset className="row choice" disabled={running}>
          <legend>Decoding</legend>
          <label>
            <input type="radio" name="decoding" checked={mode === 'greedy'} onChange={() => setMode('greedy')} /> greedy
          </label>
          <label>
            <input type="radio" name="decoding" checked={mode === 'sample'} onChange={() => setMode('sample')} /> sampled
          </label>
        </fieldset>
        {mode === 'sample' && (
          <>
            <NumberField label="Sampling seed" value={seed} min={0} max={4294967295} onCommit={setSeed} disabled={running} />
            <NumberField label="Temperature" value={temperature} min={0.05} max={5} step={0.05} onCommit={setTemperature} disabled={running} />
          </>
        )}
        <button type="button" disabled={!canRead || running || !prompt.trim()} onClick={() => void generate(prompt, newTokens, sampling, steering, forced)}>
          Generate
        </button>
      </div>
      <SteeringControls value={steering} onChange={setSteering} forced={forced} onForcedChange={setForcedExperts} disabled={running} />
      <TaskView task="generate" label="Generation" />
      {slots && (
        <div className="side-by-side">
          {(['dense', 'pruned', 'steered'] as const).map((variant) => {
            const slot = slots[variant];
            if (!slot) return null;
            return (
              <div key={variant} className="generation" aria-label={`${variant} model continuation`} role="region">
                <h4>{COLUMN_TITLES[variant]}</h4>
                <p>
                  <span className="prompt-text">{prompt}</span>
                  <span className="generated-text">{slot.partial}</span>
                </p>
                {slot.result && (
                  <p className="hint">
                    {slot.result.tokenTexts.length} tokens,{' '}
                    {slot.result.sampling.kind === 'greedy'
                      ? 'greedy'
                      : `sampled (seed ${slot.result.sampling.seed}, temperature ${slot.result.sampling.temperature})`}
                    {slot.result.stoppedAtEos ? ', stopped at end of text' : ''}
                  </p>
                )}
                {slot.result && slot.result.nextTokens.length > 0 && (
                  <table className="data-table" aria-label={`${variant} next-token probabilities`}>
                    <caption>Next token after the prompt</caption>
                    <tbody>
                      {slot.result.nextTokens.map((t, i) => (
                        <tr key={i}>
                          <td>
                            <code>{JSON.stringify(t.text)}</code>
                          </td>
                          <td>{(100 * t.p).toFixed(1)}%</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                )}
              </div>
            );
          })}
        </div>
      )}
    </div>
  );
}

const COLUMN_TITLES = { dense: 'Dense model', pruned: 'Pruned model', steered: 'Dense model, steered' } as const;
