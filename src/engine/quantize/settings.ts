/**
 * What a quantization run is asked to do (docs/quantization.md): the method, uniform bits or an average bit budget
 * (mixed precision per matrix), the group size along the input, how the budget is allocated, and GPTQ's
 * dampening (the fraction of the mean Hessian diagonal, as SparseGPT's). The one table of these defaults and
 * limits; the CLI reads its usage and checks from here.
 */
import { SETTINGS, type ChoiceOf, type SectionValues } from '../experiment/vocabulary.ts';
import { QUANT_BITS, type QuantBits, type QuantizeMethod } from './quantized-matrix.ts';

// The methods, allocations and defaults are the vocabulary's quantize rows (src/engine/experiment/vocabulary.ts),
// which the page's controls and share links read too.
export const QUANTIZE_METHODS: readonly QuantizeMethod[] = SETTINGS.quantMethod.values;
/** exact: the knapsack over matrices x total bits (a DP); greedy: upgrade the best error drop per bit first. */
export const ALLOCATIONS = SETTINGS.quantAllocation.values;
export type BitAllocation = ChoiceOf<typeof SETTINGS.quantAllocation>;

export const QUANTIZE_DEFAULTS = {
  method: SETTINGS.quantMethod.default as QuantizeMethod,
  groupSize: SETTINGS.quantGroupSize.default,
  damp: SETTINGS.quantDamp.default,
  allocation: SETTINGS.quantAllocation.default as BitAllocation,
};
/** Average budgets lie between the narrowest and the widest width. */
export const MIN_BITS = Math.min(...QUANT_BITS);
export const MAX_BITS = Math.max(...QUANT_BITS);

export interface QuantizeSettings {
  method: QuantizeMethod;
  /** Uniform width, or null with `avgBits` set. */
  bits: QuantBits | null;
  /** Average code bits per weight over the quantized matrices (mixed precision), or null. */
  avgBits: number | null;
  groupSize: number;
  allocation: BitAllocation;
  damp: number;
}

export class QuantizeRequestError extends Error {
  override name = 'QuantizeRequestError';
}

/** Throws QuantizeRequestError naming the value unless the settings are runnable. */
export function checkQuantizeSettings(s: QuantizeSettings): void {
  if (!QUANTIZE_METHODS.includes(s.method)) throw new QuantizeRequestError(`method ${s.method} is not one of ${QUANTIZE_METHODS.join(', ')}`);
  if ((s.bits === null) === (s.avgBits === null)) throw new QuantizeRequestError('give either uniform bits or an average bit budget, not both or neither');
  if (s.bits !== null && !QUANT_BITS.includes(s.bits)) throw new QuantizeRequestError(`bits ${s.bits} is not one of ${QUANT_BITS.join(', ')}`);
  if (s.avgBits !== null && !(s.avgBits >= MIN_BITS && s.avgBits <= MAX_BITS)) {
    throw new QuantizeRequestError(`average bits ${s.avgBits} is outside ${MIN_BITS}..${MAX_BITS}`);
  }
  if (!Number.isInteger(s.groupSize) || s.groupSize < 4 || s.groupSize % 4 !== 0) {
    throw new QuantizeRequestError(`group size ${s.groupSize} must be a positive multiple of 4 (the lab packs four one-byte codes per word)`);
  }
  if (!ALLOCATIONS.includes(s.allocation)) throw new QuantizeRequestError(`allocation ${s.allocation} is not one of ${ALLOCATIONS.join(', ')}`);
  if (!(s.damp > 0 && s.damp <= 1)) throw new QuantizeRequestError(`dampening ${s.damp} must be in (0, 1]`);
}

/**
 * The group sizes checkQuantizeSettings takes (multiples of 4) that divide the input widths of every routed expert
 * matrix of a model: gate / up read H, down reads I (the stacks of src/gpu/quantize/quantize-model.ts).
 */
export function fittingGroupSizes(spec: { hiddenSize: number; expertFfnSize: number }): number[] {
  const cols = [spec.hiddenSize, spec.expertFfnSize];
  const sizes: number[] = [];
  for (let g = 4; g <= Math.min(...cols); g += 4) if (cols.every((c) => c % g === 0)) sizes.push(g);
  return sizes;
}

/** The experiment's quantize section (the page, share links) as settings; null when it asks for no quantization. */
export function quantizeSettingsOf(section: SectionValues<'quantize'>): QuantizeSettings | null {
  if (section.bits === 'none') return null;
  const mixed = section.bits === 'mixed';
  return {
    method: section.method,
    bits: mixed ? null : (Number(section.bits) as QuantBits),
    avgBits: mixed ? section.avgBits : null,
    groupSize: section.groupSize,
    allocation: section.allocation,
    damp: section.damp,
  };
}
