import { useState } from 'react';
import { useLab, useLabActions } from '../../state/store.ts';

/** The models shipped with the page; the default one loads by itself on a first visit. */
export function EmbeddedPicker() {
  const embedded = useLab((s) => s.embedded);
  const loadedId = useLab((s) => (s.modelRef?.source === 'embedded' ? s.modelRef.id : ''));
  const busy = useLab((s) => s.modelTask.status === 'loading');
  const { loadModel } = useLabActions();
  const [choice, setChoice] = useState('');
  if (!embedded.length) return null;
  const selected = choice || loadedId || embedded[0].id;
  const description = embedded.find((m) => m.id === selected)?.description;
  return (
    <div className="source">
      <h3>Included with the page</h3>
      <div className="row">
        <label htmlFor="embedded-model">Model</label>
        <select id="embedded-model" value={selected} onChange={(e) => setChoice(e.target.value)}>
          {embedded.map((m) => (
            <option key={m.id} value={m.id}>
              {m.name}
            </option>
          ))}
        </select>
        <button type="button" disabled={busy || selected === loadedId} onClick={() => void loadModel({ kind: 'embedded', id: selected })}>
          Load
        </button>
      </div>
      {description && <p className="hint">{description}</p>}
    </div>
  );
}
