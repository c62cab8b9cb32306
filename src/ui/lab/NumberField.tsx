import { useEffect, useId, useState } from 'react';

interface NumberFieldProps {
  label: string;
  value: number;
  min: number;
  max: number;
  step?: number;
  /** Called with the parsed number when the field is left or Enter is pressed; the action clamps it. */
  onCommit: (value: number) => void;
  disabled?: boolean;
}

/** A labelled number input that commits on blur or Enter, so typing "1" on the way to "128" runs nothing. */
export function NumberField({ label, value, min, max, step = 1, onCommit, disabled }: NumberFieldProps) {
  const id = useId();
  const [draft, setDraft] = useState(String(value));
  useEffect(() => setDraft(String(value)), [value]);
  const commit = () => {
    const parsed = Number(draft);
    if (draft.trim() === '' || !Number.isFinite(parsed)) {
      setDraft(String(value));
      return;
    }
    const clamped = Math.min(max, Math.max(min, step === 1 ? Math.round(parsed) : parsed));
    setDraft(String(clamped));
    onCommit(clamped);
  };
  return (
    <span className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="number"
        inputMode="decimal"
        min={min}
        max={max}
        step={step}
        value={draft}
        disabled={disabled}
        onChange={(e) => setDraft(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => {
          if (e.key === 'Enter') commit();
        }}
      />
    </span>
  );
}
