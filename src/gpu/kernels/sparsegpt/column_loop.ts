/**
 * Host for shaders/sparsegpt/column_loop.wgsl: OBS column loop of one block, rows in parallel.
 * CPU reference: `sparseGptReference` in src/engine/reference/sparsegpt/matrix.ts.
 */
import source from '../../../../shaders/sparsegpt/column_loop.wgsl';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import type { ColumnBlock } from './block_select.ts';
import type { MatrixChunk } from './init_weights.ts';

export const columnLoopKernel = defineKernel({ name: 'sparsegpt/column_loop', source });

/**
 * Most rows per workgroup: 64 on a GPU; 8 on a CPU driver, where SwiftShader compiles a kernel in time proportional to
 * its workgroup memory (block 96: 64 rows 5.9 s, 16 rows 1.3 s, 8 rows 0.7 s; bench/README.md). Rows are independent:
 * the tile height changes no result.
 */
export const COLUMN_LOOP_MAX_ROWS = { gpu: 64, software: 8 } as const;

/**
 * Rows (= invocations) per workgroup for block size B: the largest power of two <= `maxRows` whose tile (rows x B f32)
 * fits `workgroupBytes`; 0 when not even one row fits.
 */
export function columnLoopTileRows(blockSize: number, workgroupBytes: number, maxRows: number = COLUMN_LOOP_MAX_ROWS.gpu): number {
  let rows = maxRows;
  while (rows >= 1 && rows * blockSize * 4 > workgroupBytes) rows /= 2;
  return rows >= 1 ? rows : 0;
}

export interface ColumnLoopArgs {
  chunk: MatrixChunk;
  block: ColumnBlock;
  blockSize: number; // B (the tile width; block.width <= B)
  tileRows: number; // columnLoopTileRows(B, limit)
  /** N:M pattern, or null when the block's unstructured mask is already in `mask`. */
  nm: { n: number; m: number } | null;
  work: BufferBinding; // [Z, R, C]
  factor: BufferBinding; // U [F, C, C]
  mask: BufferBinding;
  err: BufferBinding; // [Z, R, B]
  loss: BufferBinding; // [all matrices of the batch, R]
}

export function recordColumnLoop(rec: Recorder, a: ColumnLoopArgs): void {
  const { chunk, block } = a;
  const rowTiles = Math.ceil(chunk.rows / a.tileRows);
  rec.dispatch(columnLoopKernel, {
    bindings: { work: a.work, factor: a.factor, mask: a.mask, err: a.err, loss: a.loss },
    params: {
      rows: chunk.rows,
      cols: chunk.cols,
      block_start: block.start,
      block_width: block.width,
      first_matrix: chunk.firstMatrix,
      share: chunk.share,
      mask_base: chunk.maskBase,
      nm_keep: a.nm?.n ?? 0,
      nm_block: a.nm?.m ?? 0,
      row_tiles: rowTiles,
      matrices: chunk.matrices,
    },
    constants: { BLOCK: a.blockSize, TILE_ROWS: a.tileRows },
    workgroups: grid1d(rowTiles * chunk.matrices, 1),
  });
}
