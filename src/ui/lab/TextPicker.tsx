import { useId, useState } from 'react';
import type { CalibrationText } from '../../engine/experiment/schema.ts';
import { linkTextId, textRefOf } from '../../engine/experiment/text-ref.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { formatBytes } from '../format.ts';

const PASTE = '__paste__';

function valueOf(text: CalibrationText): string {
  return text.kind === 'pasted' ? `pasted:${text.hash}` : text.id;
}

interface TextPickerProps {
  label: string;
  value: CalibrationText;
  onChange: (text: CalibrationText) => void;
  /** Where a refused text's error shows. */
  forTask: 'calibrate' | 'evaluate';
  /** Offer single genres of texts that have them. */
  genres?: boolean;
  disabled?: boolean;
}

/**
 * Chooses a text: one of the page's texts (or one genre of it), or one the user pastes or uploads. A pasted text
 * stays in this page's engine; the share link carries only its hash, so a link to it asks for the text again.
 */
export function TextPicker({ label, value, onChange, forTask, genres = true, disabled }: TextPickerProps) {
  const id = useId();
  const texts = useLab((s) => s.texts);
  const added = useLab((s) => s.addedTexts);
  const { addText } = useLabActions();
  const [pasting, setPasting] = useState(false);
  const [draft, setDraft] = useState('');
  const current = valueOf(value);
  const missingPasted = value.kind === 'pasted' && !added.some((t) => t.hash === value.hash);
  const known = new Set([
    ...texts.flatMap((t) => [linkTextId(t.id), ...t.genres.map((g) => `${linkTextId(t.id)}.${g.id}`)]),
    ...added.map((t) => `pasted:${t.hash}`),
  ]);

  const use = async (text: string, name: string) => {
    const hash = await addText(text, name, forTask);
    if (hash) {
      onChange({ kind: 'pasted', hash });
      setPasting(false);
      setDraft('');
    }
  };
  const onFile = async (file: File | undefined) => {
    if (file) await use(await file.text(), file.name);
  };

  return (
    <div className="text-picker">
      <div className="row">
        <label htmlFor={id}>{label}</label>
        <select
          id={id}
          value={pasting ? PASTE : current}
          disabled={disabled}
          onChange={(e) => {
            if (e.target.value === PASTE) setPasting(true);
            else {
              setPasting(false);
              const v = e.target.value;
              onChange(v.startsWith('pasted:') ? { kind: 'pasted', hash: v.slice(7) } : { kind: 'corpus', id: v });
            }
          }}
        >
          {texts.map((t) => (
            <optgroup key={t.id} label={t.name}>
              <option value={linkTextId(t.id)}>{t.genres.length ? `${shortName(t.name)}: all ${t.genres.length} genres` : shortName(t.name)}</option>
              {genres &&
                t.genres.map((g) => (
                  <option key={g.id} value={`${linkTextId(t.id)}.${g.id}`}>
                    {g.name} ({g.documents} documents)
                  </option>
                ))}
            </optgroup>
          ))}
          {added.length > 0 && (
            <optgroup label="Your texts">
              {added.map((t) => (
                <option key={t.hash} value={`pasted:${t.hash}`}>
                  {t.name} ({formatBytes(t.bytes)})
                </option>
              ))}
            </optgroup>
          )}
          {!known.has(current) && (
            <option value={current}>
              {missingPasted ? `pasted text ${value.kind === 'pasted' ? value.hash : ''} (not here)` : `${current} (not on this page)`}
            </option>
          )}
          <option value={PASTE}>Paste or upload a text…</option>
        </select>
      </div>
      {missingPasted && !pasting && (
        <p className="hint warn">
          This setting names a pasted text by its hash only: paste or upload the same text to use it (choose “Paste or upload a text…”).
        </p>
      )}
      {value.kind === 'corpus' && texts.length > 0 && !known.has(current) && (
        <p className="hint warn">This page has no text “{textRefOf(value).kind === 'corpus' ? value.id : ''}”; choose another.</p>
      )}
      {pasting && (
        <div className="paste-box">
          <label htmlFor={`${id}-paste`}>Text to use</label>
          <textarea id={`${id}-paste`} rows={5} value={draft} onChange={(e) => setDraft(e.target.value)} placeholder="Paste any text here…" />
          <div className="row">
            <button type="button" disabled={!draft.trim()} onClick={() => void use(draft, `pasted text (${draft.trim().slice(0, 24)}…)`)}>
              Use the pasted text
            </button>
            <label className="button">
              Upload a text file…
              <input className="visually-hidden" type="file" accept=".txt,text/plain" onChange={(e) => void onFile(e.target.files?.[0])} />
            </label>
            <button type="button" className="link-button" onClick={() => setPasting(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

/** "Brown Corpus, held-out documents (41 documents, 13 genres)" -> "Brown Corpus, held-out documents". */
function shortName(name: string): string {
  return name.replace(/\s*\(.*\)\s*$/, '');
}
