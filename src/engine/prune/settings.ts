/**
 * What a pruning run is asked to do: method, pattern, comparison group, sparsity, seed — shared by the CPU
 * reference (src/engine/reference/prune/sorted-masks.ts) and the GPU path (src/gpu/prune). Definitions in docs/pruning.md and
 * docs/architecture.md ("Pruning scores"); keep them in step.
 */

/** magnitude |W|; wanda |W| * sqrt(input sqnorm); moe-pruner |W| * sqrt(gated input sqnorm); random (seeded). */
export type PruneMethod = 'magnitude' | 'wanda' | 'moe-pruner' | 'random';
export const PRUNE_METHODS: readonly PruneMethod[] = ['magnitude', 'wanda', 'moe-pruner', 'random'];

/** Which weights compete for pruning: each output row (as Wanda and MoE-Pruner), a whole matrix, or a layer group. */
export type PruneGroup = 'row' | 'matrix' | 'layer';
export const PRUNE_GROUPS: readonly PruneGroup[] = ['row', 'matrix', 'layer'];

/** unstructured, or N:M: in every block of M consecutive input columns of a row keep the N largest scores. */
export type PrunePattern = { kind: 'unstructured' } | { kind: 'n:m'; keep: number; block: number };

export const UNSTRUCTURED: PrunePattern = { kind: 'unstructured' };
/** The N:M patterns offered by default (sparse tensor cores run 2:4; 4:8 as in Wanda's tables). */
export const DEFAULT_NM_PATTERNS = ['2:4', '4:8'] as const;
/** Largest N:M block: blocks are ranked in registers (one u32 key per column of the block). */
export const MAX_NM_BLOCK = 16;
export const MAX_SPARSITY = 0.95;

export interface PruneSettings {
  method: PruneMethod;
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

/** 'unstructured' or 'N:M' (N < M <= 16). */
export function parsePattern(text: string): PrunePattern {
  if (text === 'unstructured') return UNSTRUCTURED;
  const match = /^(\d+):(\d+)$/.exec(text.trim());
  if (!match) throw new PruneRequestError(`pattern ${JSON.stringify(text)} is neither 'unstructured' nor N:M (e.g. 2:4)`);
  const pattern: PrunePattern = { kind: 'n:m', keep: Number(match[1]), block: Number(match[2]) };
  checkPattern(pattern);
  return pattern;
}

export function patternName(pattern: PrunePattern): string {
  return pattern.kind === 'unstructured' ? 'unstructured' : `${pattern.keep}:${pattern.block}`;
}

function checkPattern(pattern: PrunePattern): void {
  if (pattern.kind !== 'n:m') return;
  const { keep, block } = pattern;
  if (!Number.isInteger(keep) || !Number.isInteger(block) || keep < 1 || keep >= block || block > MAX_NM_BLOCK) {
    throw new PruneRequestError(`pattern ${keep}:${block} needs integers 1 <= N < M <= ${MAX_NM_BLOCK}`);
  }
}

/** Throws PruneRequestError unless the settings are runnable. */
export function checkSettings(settings: PruneSettings): void {
  const { method, group, sparsity, seed, pattern } = settings;
  if (!PRUNE_METHODS.includes(method)) throw new PruneRequestError(`unknown pruning method ${JSON.stringify(method)} (one of ${PRUNE_METHODS.join(', ')})`);
  if (!PRUNE_GROUPS.includes(group)) throw new PruneRequestError(`unknown comparison group ${JSON.stringify(group)} (one of ${PRUNE_GROUPS.join(', ')})`);
  checkPattern(pattern);
  if (pattern.kind === 'n:m' && group !== 'row') {
    throw new PruneRequestError(`pattern ${patternName(pattern)} selects within blocks of one row; the group must be 'row' (got '${group}')`);
  }
  if (pattern.kind === 'unstructured' && !(sparsity >= 0 && sparsity <= MAX_SPARSITY)) {
    throw new PruneRequestError(`sparsity ${sparsity} is outside 0..${MAX_SPARSITY}`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new PruneRequestError(`seed ${seed} is not a u32`);
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
