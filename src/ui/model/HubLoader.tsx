import type { FormEvent } from 'react';
import type { ModelEstimate } from '../../api/engine.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { formatBytes, formatCount } from '../format.ts';
import { StreamNotice } from './StreamNotice.tsx';

/** A Hugging Face repo id or URL: its size and fit are checked first, and only then is it downloaded. */
export function HubLoader() {
  const hub = useLab((s) => s.hub);
  const busy = useLab((s) => s.modelTask.status === 'loading');
  const { setHubRepo, checkHubModel, loadHubModel, cancelModelTask } = useLabActions();
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    if (hub.repo.trim()) void checkHubModel();
  };
  return (
    <div className="source">
      <h3>From Hugging Face</h3>
      <form className="row" onSubmit={onSubmit}>
        <label htmlFor="hub-repo">Hugging Face repo id or URL</label>
        <input
          id="hub-repo"
          type="text"
          placeholder="allenai/OLMoE-1B-7B-0924"
          spellCheck={false}
          value={hub.repo}
          onChange={(e) => setHubRepo(e.target.value)}
        />
        <button type="submit" disabled={!hub.repo.trim() || hub.check.status === 'estimating'}>
          Check size
        </button>
      </form>
      {hub.check.status === 'estimating' && (
        <p>
          Reading config.json and the file sizes…{' '}
          <button type="button" className="link-button" onClick={cancelModelTask}>
            Cancel
          </button>
        </p>
      )}
      {hub.check.status === 'error' && (
        <p className="error" role="alert">
          {hub.check.error.message}
        </p>
      )}
      {hub.check.status === 'estimated' && <Estimate estimate={hub.check.estimate} busy={busy} onLoad={() => void loadHubModel()} />}
    </div>
  );
}

function Estimate({ estimate, busy, onLoad }: { estimate: ModelEstimate; busy: boolean; onLoad: () => void }) {
  const { spec, fit } = estimate;
  const fits = fit?.fits ?? true;
  return (
    <div className="estimate" aria-label={`Size of ${estimate.name}`} role="region">
      <p>
        <strong>{estimate.name}</strong>: {spec.architecture}, {spec.numLayers} layers, {spec.numExperts} experts (top-{spec.topK}),{' '}
        {formatCount(estimate.parameters.total)} parameters in {spec.dtype}.
      </p>
      <ul className="file-list">
        {estimate.files.map((f) => (
          <li key={f.file}>
            <code>{f.file}</code> {formatBytes(f.bytes)}
            {f.cached ? ' (cached)' : ''}
          </li>
        ))}
      </ul>
      <p>
        {formatBytes(estimate.totalBytes)} in all
        {!estimate.streaming && estimate.downloadBytes < estimate.totalBytes ? `, ${formatBytes(estimate.downloadBytes)} still to download` : ''}.
        {fit && fit.fits && ` Its largest buffer (${formatBytes(fit.largestBuffer.bytes)}) fits this GPU's ${formatBytes(fit.limit.bytes)} binding limit.`}
      </p>
      {estimate.streaming && <StreamNotice name={estimate.name} plan={estimate.streaming} />}
      {fit?.problems.map((problem) => (
        <p key={problem} className="error" role="alert">
          {problem}
        </p>
      ))}
      <button type="button" disabled={busy || !fits} onClick={onLoad}>
        {estimate.streaming ? 'Load in streaming mode' : estimate.downloadBytes > 0 ? `Download ${formatBytes(estimate.downloadBytes)} and load` : 'Load'}
      </button>
    </div>
  );
}
