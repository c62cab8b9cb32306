/**
 * Steering flags on `moe-lab ppl`, `logits` and `generate` (src/engine/model/steering.ts), combined with --masks:
 * `--disable-experts L:E[,L:E...]` switches experts off through the mask set's expert-enabled vector;
 * `--force-expert L:E[,L:E...]` routes every token of layer L (every MoE layer for `*`) to expert E alone with gate 1.
 */
import type { MaskSet } from '../../engine/model/mask-set.ts';
import type { MoeModelSpec } from '../../engine/model/spec.ts';
import { parseExpertSwitches, steerMaskSet, type ExpertSwitch } from '../../engine/model/steering.ts';
import { UsageError, type ParsedFlags } from '../args.ts';

/** The flags every steering command takes (ppl, logits, generate). */
export const STEERING_FLAGS = { 'disable-experts': { type: 'string' }, 'force-expert': { type: 'string' } } as const;
export const STEERING_USAGE = '[--disable-experts L:E[,L:E...]] [--force-expert L:E[,L:E...]]';

/** The experts a command switches off and forces. */
export interface SteeringFlags {
  disabled: ExpertSwitch[];
  forced: ExpertSwitch[];
}

/** Both steering flags parsed (a usage error naming the flag and value when it is not L:E pairs). */
export function parseSteeringFlags(command: string, flags: ParsedFlags): SteeringFlags {
  const read = (flag: keyof typeof STEERING_FLAGS): ExpertSwitch[] => {
    const value = flags.optionalString(flag);
    if (value === undefined) return [];
    try {
      return parseExpertSwitches(value);
    } catch (error) {
      throw new UsageError(`${command}: --${flag} ${(error as Error).message}`);
    }
  };
  return { disabled: read('disable-experts'), forced: read('force-expert') };
}

/** `masks` (null: dense) with the steering applied; null when neither is given. Out-of-range or conflicting switches are usage errors. */
export function steeredMaskSet(command: string, spec: MoeModelSpec, masks: MaskSet | null, steering: SteeringFlags): MaskSet | null {
  if (!steering.disabled.length && !steering.forced.length) return masks;
  try {
    return steerMaskSet(masks, steering.disabled, spec, steering.forced);
  } catch (error) {
    const flag =
      steering.forced.length && !steering.disabled.length
        ? '--force-expert'
        : steering.disabled.length && !steering.forced.length
          ? '--disable-experts'
          : 'steering';
    throw new UsageError(`${command}: ${flag} ${(error as Error).message}`);
  }
}
