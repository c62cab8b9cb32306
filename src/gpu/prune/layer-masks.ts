/**
 * One MoE layer's keep-masks made on the GPU and left there, ready for the forward (GpuLayerMasks): per canonical
 * matrix of the targets one bitset buffer (src/engine/model/mask-set.ts layout), every piece of the layer plan
 * (src/engine/prune/layer-plan.ts) scored and selected by the pruning core (compute-masks.ts, bit-identical to the
 * CPU reference) straight into its range of that buffer, dropped experts all-pruned and disabled in the router.
 *
 * A piece is written in place when its range starts on a mask word and shares no word with another piece (true
 * for every real model: I*H and the attention sizes are multiples of 32). Otherwise the key's pieces are computed
 * into their own buffers, read back, placed bit by bit on the CPU and written once (tiny or odd shapes only).
 */
import type { LayerStats } from '../../engine/calibration/stats.ts';
import { allKeptMask, type MatrixKey } from '../../engine/model/mask-set.ts';
import { expertEnabledVector } from '../../engine/prune/expert-drop.ts';
import { canonicalElements, droppedExpertPieces, layerPieces, targetKeys, type PrunePiece } from '../../engine/prune/layer-plan.ts';
import { markPruned } from '../../engine/model/keep-mask.ts';
import { pieceFactors } from '../../engine/prune/pipeline-plan.ts';
import { coreSettings, prunesWeights, type PipelineSettings } from '../../engine/prune/pipeline-settings.ts';
import { usesColumnFactors } from '../../engine/prune/settings.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { maskedMatrix, maskedMatrixInfo, type GpuLayerMasks } from '../model/gpu-mask-set.ts';
import { maskWords } from '../weights.ts';
import { readMask, recordMasks, type GpuPruneMatrix, type MaskSlot } from './compute-masks.ts';

export interface GpuLayerPruning {
  layer: number;
  /** Forward-ready masks of the layer (the buffers below). */
  masks: GpuLayerMasks;
  /** Pieces pruned, and those of dropped experts (all pruned), in plan order. */
  pieces: PrunePiece[];
  droppedPieces: PrunePiece[];
  /** Buffers this layer owns: its mask bitsets and expert-enabled vector. */
  buffers: GPUBuffer[];
}

/** Whether `piece` can be written straight into its canonical mask (see the file comment). */
function inPlace(piece: PrunePiece, canonical: number): boolean {
  const elements = piece.rows * piece.cols;
  return piece.elementOffset % 32 === 0 && (elements % 32 === 0 || piece.elementOffset + elements === canonical);
}

/** A slot for popcount over a piece that starts on a word of its canonical mask, else null. */
export function pieceSlot(buffer: GPUBuffer, piece: PrunePiece): MaskSlot | null {
  if (piece.elementOffset % 32) return null;
  const elements = piece.rows * piece.cols;
  return { buffer, wordOffset: piece.elementOffset / 32, words: maskWords(elements), elements, created: false };
}

/** The initial bitset of a canonical mask: all kept except the dropped experts' ranges. */
function initialMask(elements: number, dropped: readonly PrunePiece[]): Uint32Array {
  const mask = allKeptMask(elements);
  for (const piece of dropped) for (let i = 0; i < piece.rows * piece.cols; i++) markPruned(mask, piece.elementOffset + i);
  return mask;
}

/**
 * Masks of MoE layer `layer` at `sparsity` with experts `dropped` removed and experts `protectedExperts` left whole
 * (protect = super-experts), scored with `stats` (wanda, moe-pruner). One submit; waits for the GPU only when a key
 * needs the CPU placement.
 */
export async function pruneLayerOnGpu(
  model: GpuModel,
  layer: number,
  settings: PipelineSettings,
  sparsity: number,
  dropped: readonly number[],
  stats: LayerStats | null,
  protectedExperts: readonly number[] = [],
): Promise<GpuLayerPruning> {
  const { ctx, spec } = model;
  const keys = targetKeys(spec, layer, settings.targets);
  const pieces = layerPieces(spec, layer, settings.targets, new Set([...dropped, ...protectedExperts]));
  const droppedPieces = settings.targets.includes('experts') ? droppedExpertPieces(spec, layer, dropped) : [];
  const result: GpuLayerPruning = { layer, masks: { matrices: {}, expertEnabled: null }, pieces, droppedPieces, buffers: [] };
  const scratch: GPUBuffer[] = [];
  try {
    const initial = new Map<MatrixKey, Uint32Array>();
    for (const key of keys) {
      const elements = canonicalElements(spec, key);
      if (maskedMatrixInfo(model, layer, key)?.elements !== elements)
        throw new RangeError(`layers.${layer}.${key}: the model's matrix is not ${elements} elements`);
      const bits = initialMask(
        elements,
        droppedPieces.filter((p) => p.key === key),
      );
      initial.set(key, bits);
      const buffer = await ctx.upload(`mask layers.${layer}.${key}`, bits);
      result.buffers.push(buffer);
      result.masks.matrices[key] = buffer;
    }
    if (dropped.length) {
      const enabled = await ctx.upload(`mask layers.${layer}.expertEnabled`, Uint32Array.from(expertEnabledVector(spec.numExperts, dropped)));
      result.buffers.push(enabled);
      result.masks.expertEnabled = enabled;
    }
    if (!prunesWeights(settings) || pieces.length === 0) return result;

    const core = coreSettings(settings, sparsity);
    // A key is placed on the CPU when any of its pieces cannot be written in place.
    const viaCpu = new Set(keys.filter((key) => pieces.some((p) => p.key === key && !inPlace(p, canonicalElements(spec, key)))));
    const requests: GpuPruneMatrix[] = [];
    for (const piece of pieces) {
      const matrix = maskedMatrix(model, layer, piece.key)!;
      let columnFactors: GPUBuffer | null = null;
      if (usesColumnFactors(core.method)) {
        columnFactors = await ctx.upload(`column factors ${piece.label}`, pieceFactors(piece, stats, core.method as 'wanda' | 'moe-pruner'));
        scratch.push(columnFactors);
      }
      const mask = viaCpu.has(piece.key) ? undefined : { buffer: result.masks.matrices[piece.key]!, wordOffset: piece.elementOffset / 32 };
      requests.push({ ...piece, weights: matrix.buffer, weightOffset: piece.elementOffset, dtype: matrix.dtype, columnFactors, mask });
    }
    const rec = ctx.record(`prune layer ${layer}`);
    const { masks: slots, release } = recordMasks(ctx, rec, core, requests);
    for (const slot of slots) if (slot.created) scratch.push(slot.buffer);
    try {
      await rec.submit();
      for (const key of viaCpu) {
        const bits = initial.get(key)!;
        for (const [i, piece] of pieces.entries()) {
          if (piece.key !== key) continue;
          const words = await readMask(ctx, slots[i]);
          for (let e = 0; e < slots[i].elements; e++) if (!((words[e >>> 5] >>> (e & 31)) & 1)) markPruned(bits, piece.elementOffset + e);
        }
        ctx.write(result.masks.matrices[key]!, bits);
      }
    } finally {
      // Scratch of matrix / layer groups is freed once the recorded work has run.
      void ctx.device.queue.onSubmittedWorkDone().then(release);
    }
    ctx.throwIfFailed();
    return result;
  } catch (error) {
    for (const b of result.buffers) b.destroy();
    throw error;
  } finally {
    void ctx.device.queue.onSubmittedWorkDone().then(() => {
      for (const b of scratch) b.destroy();
    });
  }
}
