import { readSetting, settingOf, type SettingName } from '../../engine/experiment/vocabulary.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { NumberField } from './NumberField.tsx';

interface SettingFieldProps {
  /** A number row of the settings vocabulary (src/engine/experiment/vocabulary.ts). */
  name: SettingName;
  /** A tighter upper limit than the row's (e.g. the loaded model's context). */
  max?: number;
  disabled?: boolean;
}

/**
 * The page's control of one number setting: label, limits and step from its vocabulary row, the value from the
 * experiment, and `setSetting` on commit. A new number setting needs only `<SettingField name=... />` where it shows.
 */
export function SettingField({ name, max, disabled }: SettingFieldProps) {
  const s = settingOf(name);
  if (s.kind !== 'number' || s.at === null) throw new Error(`SettingField: ${name} is not a number setting of the experiment`);
  const stored = useLab((state) => readSetting(state.experiment[s.section], name) as number);
  const actions = useLabActions();
  const limit = Math.min(max ?? s.max, s.max);
  return (
    <NumberField
      label={s.label}
      value={Math.min(stored, limit)}
      min={s.min}
      max={limit}
      step={s.step ?? (s.integer ? 1 : undefined)}
      onCommit={(v) => actions.setSetting(name, v)}
      disabled={disabled}
    />
  );
}
