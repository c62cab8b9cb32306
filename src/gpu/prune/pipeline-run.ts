/**
 * The pieces of a pipeline run (pipeline.ts) shared by the mask methods and SparseGPT (pipeline-sparsegpt.ts): the
 * calibration input and progress types, the run's result (PipelineRun: GPU-resident masks, report, CPU read-back),
 * dense statistics, OWL's allocation on the GPU model's weights, and the popcount of every piece.
 */
import type { CalibrationStats } from '../../engine/calibration/stats.ts';
import type { MaskSet, MatrixKey } from '../../engine/model/mask-set.ts';
import type { PrunePiece } from '../../engine/prune/layer-plan.ts';
import { decodeWeights } from '../../engine/prune/packing.ts';
import { allocate, moeLayerIndices, pieceOutliers, planDrop, statsOf, untouchedExperts, type Allocation } from '../../engine/prune/pipeline-plan.ts';
import type { PipelineSettings } from '../../engine/prune/pipeline-settings.ts';
import type { CalibrationInfo, PieceCount, PruneReport } from '../../engine/prune/report.ts';
import { PruneRequestError } from '../../engine/prune/settings.ts';
import { calibrateOnGpu, type CalibrationProgress } from '../calibration/calibrate.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { maskedMatrix, maskedMatrixInfo, type GpuMaskSet } from '../model/gpu-mask-set.ts';
import { countKept } from '../../engine/model/keep-mask.ts';
import { maskWords } from '../weights.ts';
import { countKeptOnGpu } from './compute-masks.ts';
import { pieceSlot } from './layer-masks.ts';

export interface PipelineCalibration {
  /** The calibration set: windows of token ids, all one length (needed unless `stats` covers the run). */
  windows?: number[][];
  /** Dense statistics to reuse (dense mode; OWL's ratios in sequential mode); skips the dense calibration pass. */
  stats?: CalibrationStats;
  /** How the windows or statistics were made, for the report (source, samples, seed...). */
  info?: Partial<CalibrationInfo>;
  /** Tokens per forward pass of the calibration (calibrateOnGpu's tokensPerBatch). */
  tokensPerBatch?: number;
  /** Measure statistics in the settings' mode even when the method needs none (`moe-lab calibrate --mode sequential`). */
  measure?: boolean;
}

export interface PipelineProgress {
  phase: 'calibrate' | 'allocate' | 'prune' | 'report';
  done: number;
  total: number;
  layer?: number;
  /** A one-line description for a progress bar. */
  message: string;
}

export interface PipelineOptions {
  onProgress?: (progress: PipelineProgress) => void;
  signal?: AbortSignal;
}

/** The outcome of a run; owns its GPU buffers until `destroy()`. */
export class PipelineRun {
  constructor(
    readonly model: GpuModel,
    /** Forward-ready masks (and SparseGPT's updated weights): pass as `masks` to the forward or evaluatePerplexity. */
    readonly masks: GpuMaskSet,
    readonly report: PruneReport,
    /** The statistics the masks were scored with (sequential: as measured through the pruned prefix), or null. */
    readonly stats: CalibrationStats | null,
    private readonly dropped: ReadonlyMap<number, readonly number[]>,
    private readonly weightsOf: (layer: number, key: MatrixKey) => Promise<Uint8Array | null>,
    private readonly release: () => void,
  ) {}

  /** The masks back on the CPU (MaskSet), for masks.safetensors and the export. */
  async readMaskSet(): Promise<MaskSet> {
    const out: MaskSet = { layers: this.model.spec.moeLayers.map(() => null) };
    for (let l = 0; l < out.layers.length; l++) {
      const layer = await this.masks.readLayer(l);
      if (!layer) continue;
      const matrices: Partial<Record<MatrixKey, Uint32Array>> = {};
      for (const [key, bits] of Object.entries(layer.matrices) as [MatrixKey, Uint32Array][]) {
        matrices[key] = bits.slice(0, maskWords(maskedMatrixInfo(this.model, l, key)!.elements));
      }
      const dropped = this.dropped.get(l) ?? [];
      out.layers[l] = dropped.length
        ? { matrices, expertEnabled: Uint8Array.from({ length: this.model.spec.numExperts }, (_, e) => (dropped.includes(e) ? 0 : 1)) }
        : { matrices };
    }
    return out;
  }

  /** SparseGPT's updated weights of one canonical matrix (model dtype, canonical layout), or null: the dense ones. */
  updatedWeights(layer: number, key: MatrixKey): Promise<Uint8Array | null> {
    return this.weightsOf(layer, key);
  }

  destroy(): void {
    this.masks.destroy();
    this.release();
  }
}

export function progress(progress: PipelineOptions['onProgress'], p: Omit<PipelineProgress, 'message'>, message: string): void {
  progress?.({ ...p, message });
}

/** Windows or an error naming what is missing. */
export function requireWindows(calibration: PipelineCalibration, why: string): number[][] {
  if (!calibration.windows?.length) throw new PruneRequestError(`${why} needs a calibration set (token windows) or a statistics file`);
  return calibration.windows;
}

/** Dense statistics: the given ones, or one dense calibration pass now. */
export async function denseStatistics(model: GpuModel, calibration: PipelineCalibration, options: PipelineOptions, why: string): Promise<CalibrationStats> {
  if (calibration.stats) {
    if (calibration.stats.mode !== 'dense') throw new PruneRequestError(`${why}: the statistics given are ${calibration.stats.mode}; dense ones are needed`);
    return calibration.stats;
  }
  const windows = requireWindows(calibration, why);
  const result = await calibrateOnGpu(model, windows, {
    mode: 'dense',
    tokensPerBatch: calibration.tokensPerBatch,
    signal: options.signal,
    onProgress: (p: CalibrationProgress) =>
      progress(options.onProgress, { phase: 'calibrate', done: p.done, total: p.total }, `Calibrating (dense): batch ${p.done} of ${p.total}`),
  });
  return result.stats;
}

/** The canonical matrix `key` of layer l read back from the GPU and widened to f32 (OWL's scores). */
function canonicalReader(model: GpuModel, l: number): (key: MatrixKey) => Promise<Float32Array> {
  const cache = new Map<MatrixKey, Float32Array>();
  return async (key) => {
    let values = cache.get(key);
    if (!values) {
      const matrix = maskedMatrix(model, l, key)!;
      values = decodeWeights(new Uint8Array(await model.ctx.read(matrix.buffer)), matrix.dtype, matrix.elements);
      cache.set(key, values);
    }
    return values;
  };
}

/** Layer targets (uniform or OWL) from dense statistics where OWL or the drop needs them. */
export async function allocateOnGpu(
  model: GpuModel,
  settings: PipelineSettings,
  dense: CalibrationStats | null,
  options: PipelineOptions,
): Promise<Allocation> {
  const layers = moeLayerIndices(model.spec);
  const drops = new Map(layers.map((l) => [l, dense ? untouchedExperts(planDrop(settings, l, statsOf(dense, l), dense.tokens, model.spec)) : []]));
  let done = 0;
  return allocate(model.spec, settings, drops, async (l, pieces) => {
    options.signal?.throwIfAborted();
    progress(options.onProgress, { phase: 'allocate', done: done++, total: layers.length, layer: l }, `OWL: outlier ratio of layer ${l}`);
    return model.withLayer(l, () => pieceOutliers(settings, pieces, statsOf(dense, l), canonicalReader(model, l)));
  });
}

/**
 * Kept weights per piece of `masks`: by popcount on the GPU where the layer's masks are there and the piece starts on
 * a mask word, else on the CPU (a streamed model's layers off the GPU: their host copies).
 */
export async function countPieces(
  model: GpuModel,
  masks: GpuMaskSet,
  layers: readonly { layer: number; pieces: readonly PrunePiece[]; droppedPieces: readonly PrunePiece[] }[],
): Promise<PieceCount[]> {
  const entries = layers.flatMap((l) => [
    ...l.pieces.map((piece) => ({ layer: l.layer, piece, dropped: false, buffer: masks.layers[l.layer]?.matrices[piece.key] ?? null })),
    ...l.droppedPieces.map((piece) => ({ layer: l.layer, piece, dropped: true, buffer: masks.layers[l.layer]?.matrices[piece.key] ?? null })),
  ]);
  const slots = entries.map((e) => (e.buffer ? pieceSlot(e.buffer, e.piece) : null));
  const onGpu = await countKeptOnGpu(
    model.ctx,
    slots.filter((s) => s !== null),
  );
  let next = 0;
  const counts: PieceCount[] = [];
  for (const [i, entry] of entries.entries()) {
    const { piece } = entry;
    let kept: number;
    if (slots[i]) {
      kept = onGpu[next++];
    } else if (entry.buffer) {
      const first = piece.elementOffset >>> 5;
      const last = (piece.elementOffset + piece.rows * piece.cols - 1) >>> 5;
      const words = await model.ctx.readU32(entry.buffer, first * 4, (last - first + 1) * 4);
      kept = countKeptRange(words, piece.elementOffset - first * 32, piece.rows * piece.cols);
    } else {
      const bits = (await masks.readLayer(entry.layer))?.matrices[piece.key];
      if (!bits) throw new RangeError(`layer ${entry.layer} has no ${piece.key} mask to count`);
      kept = countKeptRange(bits, piece.elementOffset, piece.rows * piece.cols);
    }
    counts.push({ piece, kept, dropped: entry.dropped });
  }
  return counts;
}

/** Kept bits among elements [offset, offset + count) of a bitset. */
export function countKeptRange(mask: Uint32Array, offset: number, count: number): number {
  if (offset % 32 === 0) return countKept(mask, count, offset / 32);
  let kept = 0;
  for (let e = offset; e < offset + count; e++) kept += (mask[e >>> 5] >>> (e & 31)) & 1;
  return kept;
}

/** The calibration part of the report. */
export function calibrationInfo(calibration: PipelineCalibration, stats: CalibrationStats | null, mode: PipelineSettings['mode']): CalibrationInfo | null {
  if (!stats) return null;
  const windows = calibration.windows;
  return {
    source: calibration.info?.source ?? (calibration.stats ? 'statistics' : 'windows'),
    ...calibration.info,
    mode,
    tokens: stats.tokens,
    ...(windows ? { windows: windows.length, windowLength: windows[0].length } : {}),
  };
}
