/**
 * Host for shaders/prune/row_select.wgsl: unstructured pruning, one comparison group per row, one dispatch (one row
 * per invocation for narrow rows, a workgroup per row with keys in registers, or streaming for rows too wide for
 * them).
 * CPU reference: `pruneMasksReference` in src/engine/reference/prune/sorted-masks.ts.
 */
import source from '../../../../shaders/prune/row_select.wgsl';
import type { MaskMethod } from '../../../engine/prune/settings.ts';
import { forDevice } from '../../capabilities.ts';
import { defineKernel, grid1d, type Kernel } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { scoreConstants, SELECT_INCLUDES, type ScoredMatrix, scoredBindings } from './score.ts';

/**
 * Mask words per invocation on the keys-in-registers way (ROW_WORDS in row_select.wgsl: 2 or 4). A GPU keeps 64 keys
 * per invocation; a CPU driver 128, so that a row takes half the invocations and a search step's barriers half the
 * coroutine switches (lavapipe runs each subgroup of a workgroup as a coroutine; bench/README.md).
 */
export const ROW_SELECT_WORDS = { gpu: 2, software: 4 } as const;
export type RowWords = (typeof ROW_SELECT_WORDS)[keyof typeof ROW_SELECT_WORDS];

/** row_select.wgsl sizes its key arrays by ROW_WORDS, so each value is a const prepended to the file: one kernel each. */
function rowSelectSource(rowWords: RowWords, entryPoint?: string) {
  const include = [`const ROW_WORDS: u32 = ${rowWords}u;`, ...SELECT_INCLUDES];
  return { name: `prune/row_select${entryPoint ? '.lane_rows' : `.words${rowWords}`}`, source, include, entryPoint };
}

const pruneRowSelectKernels: Record<RowWords, Kernel> = {
  [ROW_SELECT_WORDS.gpu]: defineKernel(rowSelectSource(ROW_SELECT_WORDS.gpu)),
  [ROW_SELECT_WORDS.software]: defineKernel(rowSelectSource(ROW_SELECT_WORDS.software)),
};
/** The same file's one-row-per-invocation entry point (it holds no keys in registers: either ROW_WORDS builds it). */
export const pruneLaneRowsKernel = defineKernel(rowSelectSource(ROW_SELECT_WORDS.gpu, 'main_lane_rows'));
/** Rows per workgroup and the widest row of main_lane_rows (LANE_ROWS, LANE_ROW_MAX_COLS in row_select.wgsl). */
export const LANE_ROWS = 64;
export const LANE_ROW_MAX_COLS = 128;

export type RowSelectWay = 'lane-rows' | 'registers' | 'streaming';

/**
 * How row_select runs a row of `cols` weights: one row per invocation up to LANE_ROW_MAX_COLS columns; else keys in
 * registers when the mask words a row can overlap (cols / 32, plus one when rows share words) fit `rowWords` per
 * invocation of at most 256 — every real expert row (Mixtral's 14336 included) — with the smallest power of two of
 * invocations (at least 32) that holds them; else streaming with about 16 columns per invocation (32..256).
 * `threads` is the workgroup size.
 */
export function rowSelectShape(cols: number, rowWords: RowWords): { threads: number; way: RowSelectWay } {
  if (cols <= LANE_ROW_MAX_COLS) return { threads: LANE_ROWS, way: 'lane-rows' };
  const words = cols % 32 === 0 ? cols / 32 : Math.ceil(cols / 32) + 1;
  const threads = Math.max(32, 2 ** Math.ceil(Math.log2(words / rowWords)));
  if (threads <= 256) return { threads, way: 'registers' };
  return { threads: Math.min(256, Math.max(32, 2 ** Math.ceil(Math.log2(cols / 16)))), way: 'streaming' };
}

/**
 * Prunes `pruneCount` weights of every row of `matrix`; its mask words must be zero when cols % 32 != 0. `rowWords`
 * (the device's by default) changes the kernel's shape, never a mask bit.
 */
export function recordRowSelect(
  rec: Recorder,
  method: MaskMethod,
  matrix: ScoredMatrix,
  pruneCount: number,
  mask: BufferBinding,
  maskWordBase: number,
  rowWords: RowWords = forDevice(ROW_SELECT_WORDS, rec.softwareAdapter),
): void {
  const { rows, cols, weightBase, streamKey } = matrix;
  const { threads, way } = rowSelectShape(cols, rowWords);
  const params = {
    rows,
    cols,
    weight_base: weightBase,
    mask_word_base: maskWordBase,
    prune_count: pruneCount,
    stream_key: streamKey,
    vec4_loads: matrix.vec4Loads ? 1 : 0,
  };
  const bindings = { ...scoredBindings(matrix), mask };
  if (way === 'lane-rows') {
    rec.dispatch(pruneLaneRowsKernel, { bindings, params, constants: scoreConstants(method, matrix.dtype), workgroups: grid1d(rows, LANE_ROWS) });
    return;
  }
  rec.dispatch(pruneRowSelectKernels[rowWords], {
    bindings,
    params,
    constants: { ...scoreConstants(method, matrix.dtype), SELECT_THREADS: threads, KEYS_IN_REGISTERS: way === 'registers' ? 1 : 0 },
    workgroups: grid1d(rows, 1),
  });
}
