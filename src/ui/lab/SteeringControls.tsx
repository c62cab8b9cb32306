import { useState } from 'react';
import type { ExpertSwitch } from '../../api/lab.ts';
import { formatExpertSwitches } from '../../engine/model/steering.ts';
import { useLab } from '../../state/store.ts';

interface SteeringControlsProps {
  value: ExpertSwitch[];
  onChange: (switches: ExpertSwitch[]) => void;
  disabled: boolean;
}

/**
 * Steering: switch a routed expert off in one MoE layer or in every layer (its router logit becomes -inf, as when
 * pruning drops it; docs/forward.md, Steering), and see the dense model's continuation change beside the original.
 */
export function SteeringControls({ value, onChange, disabled }: SteeringControlsProps) {
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
  return (
    <fieldset className="steering" disabled={disabled}>
      <legend>Steering: switch experts off</legend>
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
        {value.length > 0 && (
          <button type="button" onClick={() => onChange([])}>
            Switch all back on
          </button>
        )}
      </div>
      <p className="hint" aria-label="Switched-off experts">
        {value.length
          ? `Off: ${value.map((s) => (s.layer === '*' ? `expert ${s.expert} in every layer` : `expert ${s.expert} in layer ${s.layer}`)).join('; ')} (${formatExpertSwitches(value)}). Generate shows the dense model steered beside it.`
          : 'Every expert is on. Switch one off to compare the dense model with and without it.'}
      </p>
    </fieldset>
  );
}
