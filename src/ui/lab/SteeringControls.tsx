import { useState } from 'react';
import type { ExpertSwitch } from '../../api/lab.ts';
import { formatExpertSwitches } from '../../engine/model/steering.ts';
import { useLab } from '../../state/store.ts';

interface SteeringControlsProps {
  /** Experts switched off. */
  value: ExpertSwitch[];
  onChange: (switches: ExpertSwitch[]) => void;
  /** Experts forced, at most one per layer. */
  forced: ExpertSwitch[];
  onForcedChange: (forced: ExpertSwitch[]) => void;
  disabled: boolean;
}

const where = (s: ExpertSwitch) => (s.layer === '*' ? `expert ${s.expert} in every layer` : `expert ${s.expert} in layer ${s.layer}`);

/**
 * Steering (docs/forward.md, Steering): switch a routed expert off in one MoE layer or in every layer (its router
 * logit becomes -inf, as when pruning drops it), or force one (every token of the layer goes to that expert alone with
 * gate 1), and see the dense model's continuation change beside the original.
 */
export function SteeringControls({ value, onChange, forced, onForcedChange, disabled }: SteeringControlsProps) {
  const spec = useLab((s) => s.model?.spec ?? null);
  const [layer, setLayer] = useState<number | '*'>('*');
  const [expert, setExpert] = useState(0);
  if (!spec) return null;
  const moeLayers = spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
  const has = (s: ExpertSwitch) => value.some((v) => v.layer === s.layer && v.expert === s.expert);
  const add = () => {
    const next = { layer, expert };
    if (!has(next)) onChange([...value, next]);
  };
  // One forced expert per layer: a new forcing replaces the ones it overlaps ('*' overlaps every layer).
  const force = () => onForcedChange([...forced.filter((f) => f.layer !== layer && f.layer !== '*' && layer !== '*'), { layer, expert }]);
  return (
    <fieldset className="steering" disabled={disabled}>
      <legend>Steering: switch experts off or force one</legend>
      <div className="row">
        <label>
          Layer{' '}
          <select aria-label="Steering layer" value={String(layer)} onChange={(e) => setLayer(e.target.value === '*' ? '*' : Number(e.target.value))}>
            <option value="*">every MoE layer</option>
            {moeLayers.map((l) => (
              <option key={l} value={l}>
                layer {l}
              </option>
            ))}
          </select>
        </label>
        <label>
          Expert{' '}
          <select aria-label="Steering expert" value={expert} onChange={(e) => setExpert(Number(e.target.value))}>
            {Array.from({ length: spec.numExperts }, (_, e) => (
              <option key={e} value={e}>
                expert {e}
              </option>
            ))}
          </select>
        </label>
        <button type="button" onClick={add}>
          Switch off
        </button>
        <button type="button" onClick={force} title="every token of the layer goes to this expert alone, with gate 1">
          Force
        </button>
        {(value.length > 0 || forced.length > 0) && (
          <button
            type="button"
            onClick={() => {
              onChange([]);
              onForcedChange([]);
            }}
          >
            Route as trained
          </button>
        )}
      </div>
      <p className="hint" aria-label="Switched-off experts">
        {value.length || forced.length
          ? [
              value.length ? `Off: ${value.map(where).join('; ')} (${formatExpertSwitches(value)}).` : '',
              forced.length ? `Forced: ${forced.map(where).join('; ')} (${formatExpertSwitches(forced)}).` : '',
              'Generate shows the dense model steered beside it.',
            ]
              .filter(Boolean)
              .join(' ')
          : 'Every expert is on. Switch one off, or force one, to compare the dense model with and without it.'}
      </p>
    </fieldset>
  );
}
