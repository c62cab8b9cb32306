/**
 * What a SparseGPT run is asked to do (Frantar & Alistarh 2023): the sparsity or N:M pattern, the block size of the
 * column loop (`--blocksize`, 128 in the paper) and the dampening (`--damp`, a fraction of the mean Hessian
 * diagonal, 0.01 in the paper). Shared by the CPU reference (src/engine/reference/sparsegpt/matrix.ts) and the GPU path (src/gpu/sparsegpt).
 */
import { SETTINGS } from '../experiment/vocabulary.ts';
import { MAX_SPARSITY, patternName, PruneRequestError, type PrunePattern } from '../prune/settings.ts';

// Defaults and limits: the vocabulary's blockSize and damp rows (src/engine/experiment/vocabulary.ts).
export const DEFAULT_BLOCK_SIZE = SETTINGS.blockSize.default;
export const DEFAULT_DAMP = SETTINGS.damp.default;
/** Largest block: the column loop keeps a row's block in workgroup memory (B f32 per row). */
export const MAX_BLOCK_SIZE = SETTINGS.blockSize.max;

export interface SparseGptSettings {
  /** Fraction pruned per block of R x B weights (unstructured); unused by N:M (1 - N/M by construction). */
  sparsity: number;
  pattern: PrunePattern;
  blockSize: number;
  damp: number;
}

/** Throws PruneRequestError naming the value unless the settings are runnable. */
export function checkSparseGptSettings(s: SparseGptSettings): void {
  if (!Number.isInteger(s.blockSize) || s.blockSize < SETTINGS.blockSize.min || s.blockSize > MAX_BLOCK_SIZE) {
    throw new PruneRequestError(`block size ${s.blockSize} must be an integer in ${SETTINGS.blockSize.min}..${MAX_BLOCK_SIZE}`);
  }
  if (!(s.damp >= SETTINGS.damp.min && s.damp <= SETTINGS.damp.max))
    throw new PruneRequestError(`dampening ${s.damp} must be in ${SETTINGS.damp.min}..${SETTINGS.damp.max} (a fraction of the mean Hessian diagonal)`);
  if (s.pattern.kind === 'n:m') {
    if (s.blockSize % s.pattern.m) {
      throw new PruneRequestError(`block size ${s.blockSize} is not a multiple of the N:M block ${s.pattern.m} (pattern ${patternName(s.pattern)})`);
    }
  } else if (!(s.sparsity >= 0 && s.sparsity <= MAX_SPARSITY)) {
    throw new PruneRequestError(`sparsity ${s.sparsity} is outside 0..${MAX_SPARSITY}`);
  }
}

/** The reference's options for these settings. */
export function referenceOptions(s: SparseGptSettings): { sparsity: number; nm: { n: number; m: number } | null; blockSize: number; damp: number } {
  const nm = s.pattern.kind === 'n:m' ? { n: s.pattern.n, m: s.pattern.m } : null;
  return { sparsity: s.sparsity, nm, blockSize: s.blockSize, damp: s.damp };
}
