/**
 * Calibration statistics on the GPU (the statistics format of docs/architecture.md, stats.ts) from one instrumented forward
 * pass: the statistics kernels are recorded into the forward's own command buffers at each MoE layer's tap and
 * add into per-layer running totals that stay on the GPU until the end (one readback).
 *
 * Modes (as the CPU reference, src/engine/reference/calibration.ts):
 * - dense: every statistic from the dense model; batches of whole windows run embedding + layers (no LM head:
 *   calibration needs no logits).
 * - sequential (as Wanda and SparseGPT prune): layer l's statistics come from inputs produced by layers < l that
 *   are already pruned. Each batch's residual stream is kept between layers; per layer, one pass
 *   gathers its statistics (through the pruned prefix), `masksForLayer(l, stats)` turns them into masks, and a
 *   second pass runs the layer with those masks to make the next layer's input — two passes per layer, as
 *   Wanda's own prune loop does. Statistics of layer l are read back once per layer (the callback needs them).
 * A streamed model (docs/forward.md "Layer streaming") has one layer's weights on the GPU at a time: dense mode runs
 * layer-major (every batch through layer l, then l + 1), sequential mode holds layer l through its statistics, its
 * masks and its propagation. Each layer's totals add the batches in the same order, so the statistics are equal.
 * The residual streams wait between layers on the GPU while the budget has room, else in CPU memory.
 */
import type { LayerMasks, MaskSet } from '../../engine/model/mask-set.ts';
import type { CalibrationMode, CalibrationStats, LayerStats } from '../../engine/calibration/stats.ts';
import { GpuForward } from '../model/forward.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { uploadMasks, type GpuLayerMasks, type GpuMaskSet } from '../model/gpu-mask-set.ts';
import { ResidualStash, runLayerMajor } from '../model/layer-major.ts';
import { maxTokensPerPass } from '../model/workspace.ts';
import type { MoeLayerTap } from '../model/taps.ts';
import type { Recorder } from '../recorder.ts';
import { recordAttentionContextStats, recordAttentionInputStats, recordMoeStats, StatsScratch } from './layer-statistics.ts';
import { LayerTotals, readLayerTotals, totalsLayout } from './totals.ts';

export interface CalibrationProgress {
  done: number; // forward passes of a batch through the layers run so far
  total: number;
  /** Sequential mode: the layer being calibrated or propagated. */
  layer?: number;
  phase: 'statistics' | 'propagate';
}

export interface GpuCalibrationOptions {
  mode?: CalibrationMode;
  /** Sequential mode: the masks of layer l given its complete statistics (null: leave the layer dense). */
  masksForLayer?: (layer: number, stats: LayerStats) => LayerMasks | null | Promise<LayerMasks | null>;
  /**
   * Sequential mode, instead of masksForLayer: layer l's masks already on the GPU, possibly with replacement
   * weights (SparseGPT's updated weights); the caller owns the buffers. The result's `masks` stays null there.
   */
  gpuMasksForLayer?: (layer: number, stats: LayerStats) => Promise<GpuLayerMasks | null>;
  /** Extra instruments recorded at every MoE tap of the statistics passes (SparseGPT's Hessian sums). */
  onMoeTap?: (tap: MoeLayerTap) => void;
  /**
   * Dense mode on a streamed model (layer-major): before every batch goes through layer l, and after (its weights
   * still on the GPU), so per-layer instruments (onMoeTap's sums) can live one layer at a time.
   */
  beforeLayer?: (layer: number) => Promise<void>;
  /** ... with layer l's statistics (null: not an MoE layer). */
  afterLayer?: (layer: number, stats: LayerStats | null) => Promise<void>;
  /** GPU bytes onMoeTap and the hooks allocate per layer, kept free beside the residual stashes of a streamed model. */
  layerScratchBytes?: number;
  /** Tokens per forward pass, rounded down to whole windows (at least one); default 2048, capped by the adapter. */
  tokensPerBatch?: number;
  onProgress?: (progress: CalibrationProgress) => void;
  signal?: AbortSignal;
}

export interface GpuCalibrationResult {
  stats: CalibrationStats;
  /** The masks the sequential callback produced, per layer (all null in dense mode). */
  masks: MaskSet;
}

export const DEFAULT_TOKENS_PER_BATCH = 2048;

/** Windows per forward pass for windows of `seqLen` tokens. */
export function windowsPerBatch(model: GpuModel, count: number, seqLen: number, tokensPerBatch = DEFAULT_TOKENS_PER_BATCH): number {
  const byLimits = Math.floor(maxTokensPerPass(model.spec, model.ctx.caps.limits.maxStorageBufferBindingSize) / seqLen);
  return Math.max(1, Math.min(count, Math.floor(tokensPerBatch / seqLen), byLimits));
}

/** Forward shapes (one per batch size), their scratch, and cleanup. */
class Passes {
  private readonly shapes = new Map<number, { forward: GpuForward; scratch: StatsScratch }>();

  constructor(
    private readonly model: GpuModel,
    private readonly seqLen: number,
  ) {}

  of(windows: number): { forward: GpuForward; scratch: StatsScratch } {
    let shape = this.shapes.get(windows);
    if (!shape) {
      const forward = new GpuForward(this.model, windows, this.seqLen, false);
      shape = { forward, scratch: new StatsScratch(this.model.ctx, this.model.spec, forward.tokens) };
      this.shapes.set(windows, shape);
    }
    return shape;
  }

  destroy(): void {
    for (const { forward, scratch } of this.shapes.values()) {
      forward.destroy();
      scratch.destroy();
    }
    this.shapes.clear();
  }
}

/** Layer l recorded with its statistics (when `totals` is given) added to `totals`. */
function recordInstrumentedLayer(
  rec: Recorder,
  model: GpuModel,
  pass: { forward: GpuForward; scratch: StatsScratch },
  l: number,
  totals: LayerTotals | null,
  masks: GpuLayerMasks | null,
  onMoeTap?: (tap: MoeLayerTap) => void,
): void {
  const { forward, scratch } = pass;
  if (!totals) {
    forward.recordLayer(rec, l, { masks });
    return;
  }
  recordAttentionInputStats(rec, model, forward.ws, l, totals, scratch);
  const enabled = masks?.expertEnabled ?? model.allExpertsEnabled;
  forward.recordLayer(rec, l, {
    masks,
    onMoeLayer: (tap) => {
      recordMoeStats(tap, enabled, totals, scratch);
      onMoeTap?.(tap);
    },
  });
  recordAttentionContextStats(rec, model, forward.ws, l, totals, scratch);
}

function checkWindows(model: GpuModel, windows: number[][]): number {
  if (windows.length === 0) throw new RangeError('calibration needs at least one window of tokens');
  const seqLen = windows[0].length;
  if (seqLen < 1 || windows.some((w) => w.length !== seqLen)) throw new RangeError('calibration windows must all have the same length (at least 1)');
  if (!model.spec.moeLayers.some(Boolean)) throw new RangeError('this model has no MoE layer to calibrate');
  return seqLen;
}

/** Statistics of `windows` (token ids, all of one length) through `model` on the GPU. */
export async function calibrateOnGpu(model: GpuModel, windows: number[][], options: GpuCalibrationOptions = {}): Promise<GpuCalibrationResult> {
  const { ctx, spec } = model;
  const mode = options.mode ?? 'dense';
  const seqLen = checkWindows(model, windows);
  const perBatch = windowsPerBatch(model, windows.length, seqLen, options.tokensPerBatch);
  const batches: number[][][] = [];
  for (let i = 0; i < windows.length; i += perBatch) batches.push(windows.slice(i, i + perBatch));
  const passes = new Passes(model, seqLen);
  const totals: (LayerTotals | null)[] = [];
  const stash: ResidualStash[] = [];
  const gpuMasks: GpuMaskSet[] = [];
  const masks: MaskSet = { layers: spec.moeLayers.map(() => null) };
  const signal = options.signal;
  // Per layer beside its weights: one layer's statistics totals and their read-back, and the caller's instruments.
  const layerScratch = 2 * totalsLayout(spec).elements * 4 + (options.layerScratchBytes ?? 0);
  try {
    let layers: (LayerStats | null)[];
    if (mode === 'dense') {
      if (model.streamed) layers = await denseStreamed();
      else {
        for (const [l, isMoe] of spec.moeLayers.entries()) totals.push(isMoe ? await LayerTotals.create(ctx, spec, l) : null);
        for (const [b, batch] of batches.entries()) {
          signal?.throwIfAborted();
          const pass = passes.of(batch.length);
          pass.forward.writeIds(batch.flat());
          const rec = ctx.record('calibrate');
          pass.forward.recordEmbedding(rec);
          for (let l = 0; l < spec.numLayers; l++) recordInstrumentedLayer(rec, model, pass, l, totals[l], null, options.onMoeTap);
          await rec.submit();
          await ctx.idle();
          options.onProgress?.({ done: b + 1, total: batches.length, phase: 'statistics' });
        }
        layers = await readLayerTotals(ctx, spec, totals);
      }
    } else {
      layers = await sequential();
    }
    ctx.throwIfFailed();
    const tokens = windows.length * seqLen;
    return { stats: { tokens, mode, metadata: {}, layers }, masks };
  } finally {
    passes.destroy();
    for (const t of totals) t?.destroy();
    for (const b of stash) b.destroy();
    for (const m of gpuMasks) m.destroy();
  }

  /**
   * Dense mode on a streamed model: layer-major (src/gpu/model/layer-major.ts), each layer's totals adding the
   * batches in the resident order, read back and freed after the layer (one layer's totals on the GPU at a time).
   */
  async function denseStreamed(): Promise<(LayerStats | null)[]> {
    const layers: (LayerStats | null)[] = spec.moeLayers.map(() => null);
    let current: LayerTotals | null = null;
    const stashes = await runLayerMajor(
      model,
      batches.map((batch) => ({ forward: passes.of(batch.length).forward, ids: batch.flat() })),
      {
        signal,
        layerScratchBytes: layerScratch,
        beforeLayer: async (l) => {
          current = spec.moeLayers[l] ? await LayerTotals.create(ctx, spec, l) : null;
          if (current) totals.push(current);
          await options.beforeLayer?.(l);
        },
        recordLayer: (rec, b, l) => recordInstrumentedLayer(rec, model, passes.of(batches[b].length), l, current, null, options.onMoeTap),
        afterLayer: async (l) => {
          if (current) {
            layers[l] = (await readLayerTotals(ctx, spec, [current]))[0];
            current.destroy();
          }
          await options.afterLayer?.(l, layers[l]);
          options.onProgress?.({ done: l + 1, total: spec.numLayers, layer: l, phase: 'statistics' });
        },
      },
    );
    for (const stash of stashes) stash.destroy();
    return layers;
  }

  async function sequential(): Promise<(LayerStats | null)[]> {
    const L = spec.numLayers;
    const moeCount = spec.moeLayers.filter(Boolean).length;
    const total = batches.length * (moeCount + L - 1);
    let done = 0;
    const step = (layer: number, phase: CalibrationProgress['phase']) => options.onProgress?.({ done: ++done, total, layer, phase });
    // The residual stream of every batch, kept between layers: [T_b, H] each (on the GPU while the budget has room).
    for (const batch of batches) {
      const pass = passes.of(batch.length);
      const hidden = await ResidualStash.create(pass.forward, model.layerUpBytes() + layerScratch);
      stash.push(hidden);
      pass.forward.writeIds(batch.flat());
      const rec = ctx.record('calibrate embedding');
      pass.forward.recordEmbedding(rec);
      await hidden.save(rec);
    }
    const layers: (LayerStats | null)[] = spec.moeLayers.map(() => null);
    // One layer's weights on the GPU at a time when streamed: its statistics, its masks and its propagation.
    for (let l = 0; l < L; l++) await model.withLayer(l, () => calibrateLayer(l, layers, step));
    return layers;
  }

  /** Sequential mode, layer l: statistics through the pruned prefix, the layer's masks, then its output for l + 1. */
  async function calibrateLayer(l: number, layers: (LayerStats | null)[], step: (layer: number, phase: CalibrationProgress['phase']) => void): Promise<void> {
    const L = spec.numLayers;
    let layerMasks: GpuLayerMasks | null = null;
    if (spec.moeLayers[l]) {
      const layerTotals = await LayerTotals.create(ctx, spec, l);
      totals.push(layerTotals);
      for (const [b, batch] of batches.entries()) {
        signal?.throwIfAborted();
        const pass = passes.of(batch.length);
        const rec = ctx.record(`calibrate layer ${l}`);
        stash[b].restore(rec);
        recordInstrumentedLayer(rec, model, pass, l, layerTotals, null, options.onMoeTap);
        await rec.submit();
        await ctx.idle();
        step(l, 'statistics');
      }
      const stats = (await readLayerTotals(ctx, spec, [layerTotals]))[0]!;
      layerTotals.destroy(); // one layer's totals on the GPU at a time
      layers[l] = stats;
      if (options.gpuMasksForLayer) {
        layerMasks = await options.gpuMasksForLayer(l, stats);
      }
      const chosen = options.gpuMasksForLayer ? null : ((await options.masksForLayer?.(l, stats)) ?? null);
      masks.layers[l] = chosen;
      if (chosen) {
        const upload = await uploadMasks(model, { layers: masks.layers.map((m, i) => (i === l ? m : null)) });
        gpuMasks.push(upload);
        layerMasks = upload.layers[l];
      }
    }
    if (l === L - 1) return; // the last layer's output feeds nothing
    for (const [b, batch] of batches.entries()) {
      signal?.throwIfAborted();
      const pass = passes.of(batch.length);
      const rec = ctx.record(`propagate layer ${l}`);
      stash[b].restore(rec);
      pass.forward.recordLayer(rec, l, { masks: layerMasks });
      await stash[b].save(rec);
      await ctx.idle();
      step(l, 'propagate');
    }
  }
}
