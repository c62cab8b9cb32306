import { useState } from 'react';
import { isHidden } from '../state/actions.ts';
import { useLab } from '../state/store.ts';

/** Title, one line on what this is, and the share link (the address bar holds the whole experiment). */
export function Header() {
  const hideShare = useLab((s) => isHidden(s, 'share'));
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = () => {
    navigator.clipboard.writeText(location.href).then(
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
      {!hideShare && (
        <div className="share">
          <button type="button" onClick={copy}>
            Copy share link
          </button>
          <span role="status">{copied === 'copied' ? 'Copied: the link reproduces this experiment.' : copied === 'failed' ? 'Copy the address bar instead.' : ''}</span>
        </div>
      )}
    </header>
  );
}
