/**
 * What a pruning run is asked to do: method, pattern, comparison group, sparsity, seed — shared by the CPU
 * reference (src/engine/reference/prune/sorted-masks.ts) and the GPU path (src/gpu/prune). Definitions in docs/pruning.md and
 * docs/architecture.md ("Pruning scores"); keep them in step.
 */

import { formatPattern, PRUNE_GROUPS, PRUNE_METHODS, readPattern, type PruneGroup, type PruneMethod, type SparsityPattern } from '../experiment/schema.ts';
import { PATTERN, SETTINGS } from '../experiment/vocabulary.ts';

export { PRUNE_GROUPS, type PruneGroup };

/**
 * The core's mask methods: every pruning method but SparseGPT (which also updates weights, src/gpu/sparsegpt).
 * magnitude |W|; wanda |W| * sqrt(input sqnorm); moe-pruner |W| * sqrt(gated input sqnorm); random (seeded).
 */
export type MaskMethod = Exclude<PruneMethod, 'sparsegpt'>;
export const MASK_METHODS: readonly MaskMethod[] = PRUNE_METHODS.filter((m): m is MaskMethod => m !== 'sparsegpt');

/** unstructured, or N:M: in every block of M consecutive input columns of a row keep the N largest scores (schema.ts). */
export type PrunePattern = SparsityPattern;

export const UNSTRUCTURED: PrunePattern = PATTERN.default;
/** Largest N:M block M: blocks are ranked in registers (one u32 key per column of the block). */
export const MAX_NM_BLOCK = PATTERN.maxM;
export const MAX_SPARSITY = SETTINGS.sparsity.max;

export interface PruneSettings {
  method: MaskMethod;
  pattern: PrunePattern;
  group: PruneGroup;
  /** Fraction pruned per group, 0..0.95; unused by N:M, whose sparsity is 1 - N/M by construction. */
  sparsity: number;
  /** Seed of the random method (ignored by the others). */
  seed: number;
}

/** A pruning request that cannot be run as given; the message names the value and the problem. */
export class PruneRequestError extends Error {
  override readonly name = 'PruneRequestError';
}

/** 'unstructured' or 'N:M' (1 <= N < M <= 16); throws PruneRequestError naming the text otherwise. */
export function parsePattern(text: string): PrunePattern {
  const pattern = readPattern(text);
  if ('error' in pattern) throw new PruneRequestError(`pattern ${pattern.error}`);
  return pattern;
}

export const patternName = formatPattern;

function checkPattern(pattern: PrunePattern): void {
  if (pattern.kind !== 'n:m') return;
  const { n, m } = pattern;
  if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || n >= m || m < PATTERN.minM || m > MAX_NM_BLOCK) {
    throw new PruneRequestError(`pattern ${n}:${m} needs integers 1 <= N < M <= ${MAX_NM_BLOCK}`);
  }
}

/** Throws PruneRequestError unless the settings are runnable. */
export function checkSettings(settings: PruneSettings): void {
  const { method, group, sparsity, seed, pattern } = settings;
  if (!MASK_METHODS.includes(method))
    throw new PruneRequestError(`unknown pruning method ${JSON.stringify(method)} for the mask core (one of ${MASK_METHODS.join(', ')})`);
  if (!PRUNE_GROUPS.includes(group)) throw new PruneRequestError(`unknown comparison group ${JSON.stringify(group)} (one of ${PRUNE_GROUPS.join(', ')})`);
  checkPattern(pattern);
  if (pattern.kind === 'n:m' && group !== 'row') {
    throw new PruneRequestError(`pattern ${patternName(pattern)} selects within blocks of one row; the group must be 'row' (got '${group}')`);
  }
  if (pattern.kind === 'unstructured' && !(sparsity >= 0 && sparsity <= MAX_SPARSITY)) {
    throw new PruneRequestError(`sparsity ${sparsity} is outside 0..${MAX_SPARSITY}`);
  }
  if (!Number.isInteger(seed) || seed < SETTINGS.seed.min || seed > SETTINGS.seed.max) throw new PruneRequestError(`seed ${seed} is not a u32`);
}

/**
 * Weights pruned in a group of `count`: floor(count * sparsity) evaluated in IEEE double, as Wanda's
 * `int(W.shape[1] * sparsity_ratio)` does (so 0.29 * 100 prunes 28, exactly like the reference code).
 */
export function prunedPerGroup(count: number, sparsity: number): number {
  return Math.floor(count * sparsity);
}

/** Methods whose score multiplies |W| by a per-input-column factor c_j (see scores.ts). */
export function usesColumnFactors(method: PruneMethod): boolean {
  return method === 'wanda' || method === 'moe-pruner';
}
