/**
 * `--disable-experts L:E[,L:E...]` on `moe-lab ppl`, `logits` and `generate`: steering (src/engine/model/steering.ts),
 * experts switched off through the mask set's expert-enabled vector, combined with --masks.
 */
import type { MaskSet } from '../../engine/model/mask-set.ts';
import type { MoeModelSpec } from '../../engine/model/spec.ts';
import { parseExpertSwitches, steerMaskSet, type ExpertSwitch } from '../../engine/model/steering.ts';
import { UsageError } from '../args.ts';

/** The flag every steering command takes (ppl, logits, generate). */
export const DISABLE_EXPERTS_FLAG = { 'disable-experts': { type: 'string' } } as const;
export const DISABLE_EXPERTS_USAGE = '[--disable-experts L:E[,L:E...]]';

/** --disable-experts parsed (a usage error naming the value when it is not L:E pairs). */
export function parseDisableExperts(command: string, value: string | undefined): ExpertSwitch[] {
  if (value === undefined) return [];
  try {
    return parseExpertSwitches(value);
  } catch (error) {
    throw new UsageError(`${command}: --disable-experts ${(error as Error).message}`);
  }
}

/** `masks` (null: dense) with `switches` applied; null when neither is given. Out-of-range switches are usage errors. */
export function steeredMaskSet(command: string, spec: MoeModelSpec, masks: MaskSet | null, switches: readonly ExpertSwitch[]): MaskSet | null {
  if (!switches.length) return masks;
  try {
    return steerMaskSet(masks, switches, spec);
  } catch (error) {
    throw new UsageError(`${command}: --disable-experts ${(error as Error).message}`);
  }
}
