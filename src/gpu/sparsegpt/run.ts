/**
 * SparseGPT over a whole model (the `sparsegpt` pruning method): calibration with Hessian sums recorded at every
 * MoE tap (only this method pays for them), then per MoE layer the inverse-Hessian factors and the column
 * algorithm (prune-layer.ts). Modes, as calibrateOnGpu:
 * - dense: every layer's Hessians from the dense model in one pass (memory: all layers' sums at once,
 *   hessianBytesPerLayer x MoE layers), then every layer pruned; a streamed model's layer-major pass sums and
 *   prunes one layer at a time (the same sums: dense inputs either way);
 * - sequential (the paper's setting): layer l's Hessians come from inputs produced by layers < l already pruned
 *   and updated; the calibration's propagate pass runs layer l on its updated weights (GpuLayerMasks.weights), and
 *   only one layer's sums exist at a time.
 * The result is forward-ready (a GpuMaskSet whose layers carry masks and updated weights) and can be read back as a
 * MaskSet plus canonical weight bytes for an export.
 */
import type { CalibrationMode, CalibrationStats } from '../../engine/calibration/stats.ts';
import type { MaskSet, MatrixKey } from '../../engine/model/mask-set.ts';
import { countKeptRange } from '../prune/pipeline-run.ts';
import { checkSparseGptSettings, type SparseGptSettings } from '../../engine/sparsegpt/settings.ts';
import { calibrateOnGpu, type CalibrationProgress } from '../calibration/calibrate.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { GpuMaskSet, maskedMatrixInfo } from '../model/gpu-mask-set.ts';
import { maskWords } from '../weights.ts';
import { HessianAccumulator } from './hessians.ts';
import { sparseGptLayer, type PrunedLayer, type PrunedMatrix } from './prune-layer.ts';

export interface SparseGptRunOptions {
  settings: SparseGptSettings;
  /** Per-layer unstructured sparsity (e.g. OWL's allocation) instead of settings.sparsity; unused by N:M. */
  layerSparsity?: (layer: number) => number;
  mode?: CalibrationMode;
  /** Prune a layer's shared expert too (default true); false leaves it dense (the pipeline's targets without 'shared'). */
  shared?: boolean;
  tokensPerBatch?: number;
  onProgress?: (progress: CalibrationProgress) => void;
  signal?: AbortSignal;
}

/** One pruned matrix in a report: achieved sparsity from its mask, the OBS loss estimate. */
export interface SparseGptMatrixReport extends Omit<PrunedMatrix, 'elementOffset' | 'key'> {
  kept: number;
  sparsity: number;
}

export class SparseGptResult {
  constructor(
    readonly model: GpuModel,
    /** Masks and updated weights per layer, for GpuForward (request.masks). */
    readonly masks: GpuMaskSet,
    readonly layers: PrunedLayer[],
    readonly stats: CalibrationStats,
  ) {}

  /** Keep-masks back on the CPU, per layer and canonical matrix (MaskSet; the weights are separate). */
  async readMaskSet(): Promise<MaskSet> {
    const out: MaskSet = { layers: this.model.spec.moeLayers.map(() => null) };
    for (const pruned of this.layers) {
      const matrices: Partial<Record<MatrixKey, Uint32Array>> = {};
      const host = (await this.masks.readLayer(pruned.layer))!;
      for (const [key, bits] of Object.entries(host.matrices) as [MatrixKey, Uint32Array][]) {
        matrices[key] = bits.slice(0, maskWords(maskedMatrixInfo(this.model, pruned.layer, key)!.elements));
      }
      out.layers[pruned.layer] = { matrices };
    }
    return out;
  }

  /** Updated weights of one canonical matrix as stored bytes (the model's dtype, canonical layout), for export. */
  async readWeights(layer: number, key: MatrixKey): Promise<Uint8Array> {
    const weights = (await this.masks.readLayer(layer))?.weights[key];
    if (!weights) throw new RangeError(`SparseGPT did not update layers.${layer}.${key}`);
    return weights;
  }

  /** Achieved sparsity and OBS loss per matrix, from the masks (reads them back). */
  async report(): Promise<SparseGptMatrixReport[]> {
    const masks = await this.readMaskSet();
    const rows: SparseGptMatrixReport[] = [];
    for (const pruned of this.layers) {
      for (const m of pruned.matrices) {
        const bits = masks.layers[pruned.layer]!.matrices[m.key]!;
        const elements = m.rows * m.cols;
        const kept = countKeptRange(bits, m.elementOffset, elements);
        rows.push({ label: m.label, rows: m.rows, cols: m.cols, loss: m.loss, kept, sparsity: 1 - kept / elements });
      }
    }
    return rows;
  }

  destroy(): void {
    this.masks.destroy();
  }
}

/** Calibrates on `windows` and prunes every MoE layer of `model` with SparseGPT. */
export async function sparseGptOnModel(model: GpuModel, windows: number[][], options: SparseGptRunOptions): Promise<SparseGptResult> {
  const { settings } = options;
  checkSparseGptSettings(settings);
  const settingsOf = (l: number): SparseGptSettings => {
    if (!options.layerSparsity) return settings;
    const layerSettings = { ...settings, sparsity: options.layerSparsity(l) };
    checkSparseGptSettings(layerSettings);
    return layerSettings;
  };
  const spec = model.spec;
  const moeLayers = spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
  const mode = options.mode ?? 'sequential';
  const pruned: PrunedLayer[] = [];
  // Each layer's masks and updated weights join the set as they are made (a streamed model's go to host memory with their layer).
  const masks = GpuMaskSet.forModel(model);
  const keep = async (layer: PrunedLayer) => {
    await masks.put(layer.layer, layer.masks, layer.buffers);
    pruned.push(layer);
    return layer;
  };
  // A layer's shared expert is pruned only with its Hessians (prune-layer.ts targetsOf): not summed, it stays dense.
  // Dense mode sums every layer's Hessians in one pass, but a streamed model's pass is layer-major: one layer's at a time.
  const upFront = mode === 'sequential' ? moeLayers.slice(0, 1) : model.streamed ? [] : moeLayers;
  const hessians = await HessianAccumulator.create(model, upFront, options.shared ?? true);
  const calibration = {
    mode,
    tokensPerBatch: options.tokensPerBatch,
    onProgress: options.onProgress,
    signal: options.signal,
    onMoeTap: hessians.record.bind(hessians),
  };
  try {
    let stats: CalibrationStats;
    if (mode === 'dense' && model.streamed) {
      // Each layer pruned as soon as its sums are complete, while it is still up: the dense inputs, hence the sums
      // and the masks, are the resident run's.
      stats = (
        await calibrateOnGpu(model, windows, {
          ...calibration,
          beforeLayer: async (l) => {
            if (spec.moeLayers[l]) await hessians.track(l);
          },
          afterLayer: async (l, layerStats) => {
            if (!layerStats) return;
            options.signal?.throwIfAborted();
            await keep(await sparseGptLayer(model, l, hessians.of(l), layerStats, settingsOf(l)));
            hessians.release(l);
          },
        })
      ).stats;
    } else if (mode === 'dense') {
      stats = (await calibrateOnGpu(model, windows, calibration)).stats;
      for (const l of moeLayers) {
        options.signal?.throwIfAborted();
        await model.withLayer(l, async () => keep(await sparseGptLayer(model, l, hessians.of(l), stats.layers[l]!, settingsOf(l))));
        hessians.release(l);
      }
    } else {
      stats = (
        await calibrateOnGpu(model, windows, {
          ...calibration,
          gpuMasksForLayer: async (l, layerStats) => {
            const layer = await keep(await sparseGptLayer(model, l, hessians.of(l), layerStats, settingsOf(l)));
            hessians.release(l);
            const next = moeLayers.find((m) => m > l);
            if (next !== undefined) await hessians.track(next);
            return layer.masks;
          },
        })
      ).stats;
    }
    return new SparseGptResult(model, masks, pruned, stats);
  } catch (error) {
    masks.destroy();
    throw error;
  } finally {
    hessians.destroy();
  }
}
