/**
 * Host side of shaders/prune/score.wgsl, radix.wgsl and select.wgsl (snippets, not kernels): the includes and override
 * constants every prune kernel that scores weights shares, and the bindings of one scored matrix.
 */
import radixWgsl from '../../../../shaders/prune/radix.wgsl';
import scoreWgsl from '../../../../shaders/prune/score.wgsl';
import selectWgsl from '../../../../shaders/prune/select.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import type { WeightDtype } from '../../../engine/model/spec.ts';
import type { BufferBinding } from '../../recorder.ts';
import { WEIGHT_BYTES, WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';

/** Snippets of a kernel that scores weights (score_key) ... */
export const SCORE_INCLUDES = [WEIGHTS_WGSL, scoreWgsl];
/** ... and radix-selects and writes tie-ordered mask words ... */
export const SELECT_INCLUDES = [WEIGHTS_WGSL, scoreWgsl, radixWgsl, selectWgsl];
/** ... or only works on histograms and scans. */
export const RADIX_INCLUDES = [radixWgsl];

/** Value of the PRUNE_METHOD override: wanda and moe-pruner share a kernel, only their column factors differ. */
export const PRUNE_METHOD_CODE: Record<MaskMethod, number> = { magnitude: 0, wanda: 1, 'moe-pruner': 1, random: 2 };

/** One matrix as the scoring kernels see it. */
export interface ScoredMatrix {
  /** Packed W [rows, cols]; element `weightBase` of the bound range is W[0, 0]. */
  weights: BufferBinding;
  weightBase: number;
  dtype: WeightDtype;
  /** [cols] f32 column factors (any buffer for magnitude and random: never read). */
  columnFactors: BufferBinding;
  rows: number;
  cols: number;
  /** randomStreamKey(seed, stream) (src/engine/prune/scores.ts); unused by the other methods. */
  streamKey: number;
  /**
   * Whether row_select and nm_select score through score.wgsl's 16-byte views (score_keys8; vec4LoadsAllowed). Then
   * `weightsVec4` and `columnFactorsVec4` bind the same ranges as `weights` and `columnFactors`; else any 16 bytes.
   */
  vec4Loads: boolean;
  weightsVec4: BufferBinding;
  columnFactorsVec4: BufferBinding;
}

/**
 * When score_keys8 may read eight weights and their column factors with 16-byte loads: every mask word whole in a
 * row (cols a multiple of 32), W's first element on a 16-byte boundary of its binding (weightBase a multiple of 4
 * f32 or 8 f16 / bf16), and a method that reads weights (random hashes the element index).
 */
export function vec4LoadsAllowed(method: MaskMethod, dtype: WeightDtype, cols: number, weightBase: number): boolean {
  return method !== 'random' && cols % 32 === 0 && weightBase % (16 / WEIGHT_BYTES[dtype]) === 0;
}

/** The storage bindings score.wgsl reads, by its variable names (every kernel that scores binds all four). */
export function scoredBindings(matrix: ScoredMatrix): Record<string, BufferBinding> {
  return {
    weights: matrix.weights,
    column_factors: matrix.columnFactors,
    weights_vec4: matrix.weightsVec4,
    column_factors_vec4: matrix.columnFactorsVec4,
  };
}

export function scoreConstants(method: MaskMethod, dtype: WeightDtype): Record<string, number> {
  return { WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[dtype], PRUNE_METHOD: PRUNE_METHOD_CODE[method] };
}

/** Radix select over the u32 score keys: RADIX_PASSES digits of RADIX_BINS values (shaders/prune/radix.wgsl). */
export const RADIX_PASSES = 3;
export const RADIX_BINS = 2048;

/** Elements per workgroup of the group kernels (CHUNK_ELEMENTS in group_*.wgsl = 256 mask words). */
export const GROUP_CHUNK_ELEMENTS = 8192;

/** Workgroups covering a matrix in chunks of GROUP_CHUNK_ELEMENTS. */
export function groupChunks(elementCount: number): number {
  return Math.ceil(elementCount / GROUP_CHUNK_ELEMENTS);
}
