/**
 * SparseGPT (Frantar & Alistarh 2023) on the GPU for a batch of same-shape matrices that lie one after another in
 * a weight buffer, as the engine's canonical expert layout stacks them: matrix z is W [R, C] at element
 * offset + z * R * C and uses inverse-Hessian factor floor(z / share) (gate and up of an expert share its input
 * Hessian: share 2). Per chunk of matrices that fits one storage binding as f32:
 *   init_weights (f32 working copy, dead inputs zeroed, mask bits cleared), then per block of B columns:
 *   block_select (unstructured only) -> column_loop -> trailing_update, then encode_weights into `output`.
 * Results: keep-mask bits in `mask` and the updated weights in `output` (same dtype and layout as the source; the
 * source is never written, so the dense model stays available). See docs/sparsegpt.md.
 */
import type { WeightDtype } from '../../engine/model/spec.ts';
import { prunedPerGroup, PruneRequestError } from '../../engine/prune/settings.ts';
import { checkSparseGptSettings, type SparseGptSettings } from '../../engine/sparsegpt/settings.ts';
import { forDevice } from '../capabilities.ts';
import type { GpuContext } from '../context.ts';
import { beyondLimits } from '../errors.ts';
import { recordBlockSelect } from '../kernels/sparsegpt/block_select.ts';
import { COLUMN_LOOP_MAX_ROWS, columnLoopTileRows, recordColumnLoop } from '../kernels/sparsegpt/column_loop.ts';
import { recordEncodeWeights } from '../kernels/sparsegpt/encode_weights.ts';
import { recordInitWeights, type MatrixChunk } from '../kernels/sparsegpt/init_weights.ts';
import { recordTrailingUpdate } from '../kernels/sparsegpt/trailing_update.ts';
import type { Recorder } from '../recorder.ts';
import { maskWords, weightBufferBytes } from '../weights.ts';
import type { InverseHessianFactor } from './factor.ts';

export interface SparseGptBatch {
  /** Names the batch in errors, e.g. 'layers.0.experts.gate_up'. */
  label: string;
  rows: number; // R
  cols: number; // C
  matrices: number; // Z
  /** Matrices per factor: matrix z uses factor floor(z / share). */
  share: number;
  source: { buffer: GPUBuffer; dtype: WeightDtype; elementOffset?: number };
  /** Receives the updated weights in the source's dtype; may not be the source buffer. */
  output: { buffer: GPUBuffer; elementOffset?: number };
  mask: { buffer: GPUBuffer; elementOffset?: number };
  factor: InverseHessianFactor;
  /** Rows per column_loop workgroup at most this; by default the device's (COLUMN_LOOP_MAX_ROWS). No result depends on it. */
  maxTileRows?: number;
}

function checkBatch(ctx: GpuContext, settings: SparseGptSettings, b: SparseGptBatch, blockSize: number): number {
  const { rows: R, cols: C, matrices: Z, share, label } = b;
  for (const [name, value] of [
    ['rows', R],
    ['cols', C],
    ['matrices', Z],
    ['share', share],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) throw new PruneRequestError(`${label}: ${name} ${value} is not a positive integer`);
  }
  if (b.factor.cols !== C) throw new PruneRequestError(`${label}: the factor is ${b.factor.cols} wide, the matrices have ${C} columns`);
  if (b.factor.factors * share < Z) throw new PruneRequestError(`${label}: ${Z} matrices need ${Math.ceil(Z / share)} factors, got ${b.factor.factors}`);
  if (b.output.buffer === b.source.buffer) throw new PruneRequestError(`${label}: the output must not be the source weights (the dense copy stays)`);
  if (settings.pattern.kind === 'n:m' && C % settings.pattern.m) {
    throw new PruneRequestError(`${label}: ${C} columns are not a multiple of the N:M block ${settings.pattern.m}`);
  }
  const elements = Z * R * C;
  const sourceEnd = (b.source.elementOffset ?? 0) + elements;
  const outputEnd = (b.output.elementOffset ?? 0) + elements;
  const maskEnd = (b.mask.elementOffset ?? 0) + elements;
  if (Math.max(sourceEnd, outputEnd, maskEnd) > 0xffffffff) throw new PruneRequestError(`${label}: element offsets pass 2^32`);
  if (weightBufferBytes(b.source.dtype, sourceEnd) > b.source.buffer.size)
    throw new PruneRequestError(`${label}: the source buffer holds fewer than ${sourceEnd} elements`);
  if (weightBufferBytes(b.source.dtype, outputEnd) > b.output.buffer.size)
    throw new PruneRequestError(`${label}: the output buffer holds fewer than ${outputEnd} elements`);
  if (maskWords(maskEnd) * 4 > b.mask.buffer.size) throw new PruneRequestError(`${label}: the mask buffer holds fewer than ${maskEnd} bits`);
  const maxRows = b.maxTileRows ?? forDevice(COLUMN_LOOP_MAX_ROWS, ctx.caps.isSoftware);
  const tileRows = columnLoopTileRows(blockSize, ctx.caps.limits.maxComputeWorkgroupStorageSize, maxRows);
  if (tileRows === 0)
    throw new PruneRequestError(`block size ${blockSize} does not fit this GPU's ${ctx.caps.limits.maxComputeWorkgroupStorageSize}-byte workgroup memory`);
  return tileRows;
}

/** Column blocks [start, start + width) of width B (the last one narrower). */
export function columnBlocks(cols: number, blockSize: number): { start: number; width: number }[] {
  const blocks = [];
  for (let start = 0; start < cols; start += blockSize) blocks.push({ start, width: Math.min(blockSize, cols - start) });
  return blocks;
}

/**
 * Records SparseGPT on every matrix of the batch into `rec` (the factor must be recorded before). Returns the
 * per-row OBS losses [Z, R] f32 (sum (w - q)^2 / U_ii^2 / 2; the caller destroys it) and a cleanup for the
 * scratch buffers, to call once the recorded work has run.
 */
export function recordSparseGpt(ctx: GpuContext, rec: Recorder, settings: SparseGptSettings, batch: SparseGptBatch): { loss: GPUBuffer; release: () => void } {
  checkSparseGptSettings(settings);
  const { rows: R, cols: C, matrices: Z, label } = batch;
  const B = Math.min(settings.blockSize, C);
  const tileRows = checkBatch(ctx, settings, batch, B);
  const limit = ctx.caps.limits.maxStorageBufferBindingSize;
  const perChunk = Math.min(Z, Math.floor(limit / (R * C * 4)));
  if (perChunk < 1) throw beyondLimits(`${label} (one f32 working matrix)`, R * C * 4, limit, 'maxStorageBufferBindingSize');
  const work = ctx.createBuffer(`${label} SparseGPT working weights`, perChunk * R * C * 4);
  const err = ctx.createBuffer(`${label} SparseGPT block errors`, perChunk * R * B * 4);
  const loss = ctx.createBuffer(`${label} SparseGPT losses`, Z * R * 4);
  rec.clear(loss);
  const nm = settings.pattern.kind === 'n:m' ? settings.pattern : null;
  const { factor, dead } = batch.factor;
  for (let first = 0; first < Z; first += perChunk) {
    const chunk: MatrixChunk = {
      rows: R,
      cols: C,
      matrices: Math.min(perChunk, Z - first),
      firstMatrix: first,
      share: batch.share,
      maskBase: (batch.mask.elementOffset ?? 0) + first * R * C,
    };
    const source = { weights: batch.source.buffer, dtype: batch.source.dtype, elementOffset: (batch.source.elementOffset ?? 0) + first * R * C };
    recordInitWeights(rec, chunk, source, dead, work, batch.mask.buffer);
    for (const block of columnBlocks(C, B)) {
      if (!nm) recordBlockSelect(rec, chunk, block, prunedPerGroup(R * block.width, settings.sparsity), { work, factor, mask: batch.mask.buffer });
      recordColumnLoop(rec, { chunk, block, blockSize: B, tileRows, nm, work, factor, mask: batch.mask.buffer, err, loss });
      recordTrailingUpdate(rec, chunk, block, B, { work, factor, err });
    }
    const count = chunk.matrices * R * C;
    recordEncodeWeights(rec, work, batch.output.buffer, batch.source.dtype, count, (batch.output.elementOffset ?? 0) + first * R * C);
  }
  return {
    loss,
    release: () => {
      work.destroy();
      err.destroy();
    },
  };
}
