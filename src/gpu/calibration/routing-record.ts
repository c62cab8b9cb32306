/**
 * Per-token routing record for the router inspector's token view: for each token of a chosen text (a window or a
 * few of one length) and each MoE layer, the chosen experts and their weights g [T, K] in the family's slot order,
 * plus the router's entropy (nats, over all enabled experts) and top-1/top-2 probability margin [T]
 * (router-health.ts definitions). One forward pass without the LM head; one readback per MoE layer.
 */
import { HISTOGRAM_BINS } from '../../engine/calibration/stats.ts';
import { recordRouterHealth } from '../kernels/stats/router_health.ts';
import { GpuForward } from '../model/forward.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { GpuMaskSet } from '../model/gpu-mask-set.ts';
import type { MoeLayerTap } from '../model/taps.ts';

/** Marks an empty routing slot (no enabled expert left), as the forward's route kernel writes it. */
export const NO_EXPERT = 0xffffffff;

export interface LayerRouting {
  expertIds: Uint32Array; // [T, K]; NO_EXPERT for an empty slot
  gates: Float32Array; // [T, K]
  entropy: Float32Array; // [T] nats
  margin: Float32Array; // [T] p(1) - p(2)
  /** The raw router logits [T, E] and the layer's e_score_correction_bias [E] (null without one), so the page can
   * show scores and the bias-corrected choice apart (DeepSeek-V3, GLM-4.5). */
  routerLogits?: Float32Array;
  correctionBias?: Float32Array | null;
}

export interface RoutingRecord {
  windows: number; // B
  seqLen: number; // S
  topK: number; // K
  /** [L]; null for dense (non-MoE) layers. */
  layers: (LayerRouting | null)[];
}

export interface RoutingRecordOptions {
  /** Route through a pruned model (masked weights, dropped experts). */
  masks?: GpuMaskSet | null;
  signal?: AbortSignal;
}

/**
 * Sections of one layer's record buffer, 256-byte aligned: ids, gates [T, K]; entropy, margin [T]; histograms;
 * router logits [T, E]; correction bias [E].
 */
function recordLayout(T: number, K: number, E: number) {
  const align = (words: number) => Math.ceil(words / 64) * 64;
  const ids = 0;
  const gates = ids + align(T * K);
  const entropy = gates + align(T * K);
  const margin = entropy + align(T);
  const histograms = margin + align(T);
  const logits = histograms + align(2 * HISTOGRAM_BINS);
  const bias = logits + align(T * E);
  return { ids, gates, entropy, margin, histograms, logits, bias, words: bias + align(E) };
}

/** The routing of every token of `windows` (token ids, all of one length) through `model`. */
export async function recordTokenRouting(model: GpuModel, windows: number[][], options: RoutingRecordOptions = {}): Promise<RoutingRecord> {
  const { ctx, spec } = model;
  if (windows.length === 0 || windows.some((w) => w.length !== windows[0].length || w.length === 0)) {
    throw new RangeError('routing record: give one or more windows of token ids, all of the same length');
  }
  const forward = new GpuForward(model, windows.length, windows[0].length, false);
  const T = forward.tokens;
  const K = spec.topK;
  const E = spec.numExperts;
  const layout = recordLayout(T, K, E);
  const buffers: (GPUBuffer | null)[] = [];
  try {
    for (const [l, isMoe] of spec.moeLayers.entries()) buffers.push(isMoe ? await ctx.allocate(`routing record layer ${l}`, layout.words * 4) : null);
    options.signal?.throwIfAborted();
    forward.writeIds(windows.flat());
    const rec = ctx.record('routing record');
    for (const b of buffers) if (b) rec.clear(b);
    forward.recordEmbedding(rec);
    const biased = new Set<number>();
    const section = (buffer: GPUBuffer, at: number, words: number) => ({ buffer, offset: at * 4, size: words * 4 });
    const onMoeLayer = (tap: MoeLayerTap) => {
      const out = buffers[tap.layer]!;
      tap.recorder.copy(tap.expertIds, 0, out, layout.ids * 4, T * K * 4);
      tap.recorder.copy(tap.gates, 0, out, layout.gates * 4, T * K * 4);
      tap.recorder.copy(tap.routerLogits, 0, out, layout.logits * 4, T * E * 4);
      const bias = model.layers[tap.layer].correctionBias;
      if (bias) biased.add(tap.layer);
      if (bias) tap.recorder.copy(bias, 0, out, layout.bias * 4, E * 4);
      recordRouterHealth(tap.recorder, {
        routerLogits: tap.routerLogits,
        enabled: options.masks?.layers[tap.layer]?.expertEnabled ?? model.allExpertsEnabled,
        tokens: T,
        experts: spec.numExperts,
        tokenEntropy: section(out, layout.entropy, T),
        tokenMargin: section(out, layout.margin, T),
        histograms: section(out, layout.histograms, 2 * HISTOGRAM_BINS),
        bins: HISTOGRAM_BINS,
      });
    };
    await forward.recordLayers(rec, (l) => ({ masks: options.masks?.layers[l] ?? null, onMoeLayer }));
    await rec.submit();
    const layers: (LayerRouting | null)[] = [];
    for (const [l, b] of buffers.entries()) {
      if (!b) {
        layers.push(null);
        continue;
      }
      const words = await ctx.read(b);
      const hasBias = biased.has(l);
      layers.push({
        expertIds: new Uint32Array(words, layout.ids * 4, T * K),
        gates: new Float32Array(words, layout.gates * 4, T * K),
        entropy: new Float32Array(words, layout.entropy * 4, T),
        margin: new Float32Array(words, layout.margin * 4, T),
        routerLogits: new Float32Array(words, layout.logits * 4, T * E),
        correctionBias: hasBias ? new Float32Array(words, layout.bias * 4, E) : null,
      });
    }
    return { windows: windows.length, seqLen: windows[0].length, topK: K, layers };
  } finally {
    forward.destroy();
    for (const b of buffers) b?.destroy();
  }
}
