import { useLab, useLabActions } from '../../state/store.ts';

/** Dense or pruned: both were computed, so switching redraws at once. */
export function VariantToggle() {
  const variant = useLab((s) => s.variant);
  const { setVariant } = useLabActions();
  return (
    <div className="segmented" role="radiogroup" aria-label="Show the dense or the pruned model">
      {(['dense', 'pruned'] as const).map((v) => (
        <label key={v} className={variant === v ? 'on' : ''}>
          <input type="radio" name="variant" className="visually-hidden" checked={variant === v} onChange={() => setVariant(v)} />
          {v === 'dense' ? 'Dense' : 'Pruned'}
        </label>
      ))}
    </div>
  );
}
