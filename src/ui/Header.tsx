import { useState } from 'react';
import { isHidden } from '../state/actions.ts';
import { shareableUrl } from '../state/page-gpu-memory.ts';
import { useLab, useLabActions } from '../state/store.ts';

/** Title, one line on what this is, the guided tour, and the share link (the address bar holds the whole experiment). */
export function Header() {
  const hideShare = useLab((s) => isHidden(s, 'share'));
  const touring = useLab((s) => s.experiment.tour);
  const webGpu = useLab((s) => s.gpu.status !== 'unavailable');
  const { setTour } = useLabActions();
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = () => {
    navigator.clipboard.writeText(shareableUrl(location.href)).then(
      () => setCopied('copied'),
      () => setCopied('failed'),
    );
  };
  return (
    <header className="page-header">
      <div>
        <h1>MoE Lab</h1>
        <p>Watch a Mixture-of-Experts model route tokens, prune it, and measure what pruning costs — on your own GPU.</p>
      </div>
      <div className="header-actions">
        {webGpu && !touring && (
          <button type="button" onClick={() => setTour(true)}>
            Take the guided tour
          </button>
        )}
        {!hideShare && (
          <div className="share">
            <button type="button" onClick={copy}>
              Copy share link
            </button>
            <span role="status">
              {copied === 'copied' ? 'Copied: the link reproduces this experiment.' : copied === 'failed' ? 'Copy the address bar instead.' : ''}
            </span>
          </div>
        )}
      </div>
    </header>
  );
}
