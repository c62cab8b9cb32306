/**
 * One layer's keep-masks on the GPU: the pieces of prune-plan.ts scored and selected by the pruning core
 * (src/gpu/prune/compute-masks.ts: radix select per row / matrix / layer group, N:M; bit-identical to the CPU
 * reference), read back and placed into the layer's canonical bitsets; dropped experts are pruned whole and
 * disabled in the router. One submit per layer.
 */
import type { PruneRequest } from '../api/lab.ts';
import type { LayerStats } from '../engine/calibration/stats.ts';
import { denseMask, type LayerMasks, type MatrixKey } from '../engine/model/masks.ts';
import { columnFactors } from '../engine/prune/scores.ts';
import { usesColumnFactors, type PruneMethod, type PruneSettings } from '../engine/prune/settings.ts';
import type { GpuModel } from '../gpu/model/gpu-model.ts';
import { maskedMatrix } from '../gpu/model/masks.ts';
import { computeMasks, readMask, type GpuPruneMatrix } from '../gpu/prune/compute-masks.ts';
import { canonicalElements, layerPieces, targetKeys, type PrunePiece } from './prune-plan.ts';

/** Copies bits [0, count) of `source` to bits [at, at + count) of `target`. */
export function copyBits(target: Uint32Array, at: number, source: Uint32Array, count: number): void {
  if (at % 32 === 0) {
    const words = Math.floor(count / 32);
    target.set(source.subarray(0, words), at / 32);
    for (let i = words * 32; i < count; i++) setBit(target, at + i, (source[i >>> 5] >>> (i & 31)) & 1);
    return;
  }
  for (let i = 0; i < count; i++) setBit(target, at + i, (source[i >>> 5] >>> (i & 31)) & 1);
}

function setBit(mask: Uint32Array, i: number, bit: number): void {
  if (bit) mask[i >>> 5] |= 1 << (i & 31);
  else mask[i >>> 5] &= ~(1 << (i & 31));
}

/** Clears bits [at, at + count): those weights are pruned. */
export function clearBits(mask: Uint32Array, at: number, count: number): void {
  for (let i = at; i < at + count; i++) mask[i >>> 5] &= ~(1 << (i & 31));
}

/** The core's settings for one layer of `request` (SparseGPT is not a mask method: see prune.ts). */
export function coreSettings(request: PruneRequest, sparsity: number): PruneSettings {
  const pattern = request.pattern.kind === 'n:m' ? { kind: 'n:m' as const, keep: request.pattern.n, block: request.pattern.m } : { kind: 'unstructured' as const };
  return { method: request.method as PruneMethod, pattern, group: request.group, sparsity, seed: request.calibration.seed };
}

/**
 * Masks of layer `layer` under `request` at `sparsity` (OWL gives each layer its own), with `dropped` experts
 * pruned whole. Null when the layer has nothing to prune. `stats` is needed by the methods with column factors.
 */
export async function computeLayerMasks(
  model: GpuModel,
  layer: number,
  stats: LayerStats | null,
  request: PruneRequest,
  sparsity: number,
  dropped: readonly number[],
): Promise<LayerMasks | null> {
  const { ctx, spec } = model;
  const keys = targetKeys(spec, layer, request.targets);
  if (!keys.length && !dropped.length) return null;
  const settings = coreSettings(request, sparsity);
  const matrices: Partial<Record<MatrixKey, Uint32Array>> = {};
  for (const key of keys) matrices[key] = denseMask(canonicalElements(spec, key));
  const droppedSet = new Set(dropped);
  if (matrices['experts.gate_up'] && matrices['experts.down']) {
    const { expertFfnSize: I, hiddenSize: H } = spec;
    for (const e of dropped) {
      clearBits(matrices['experts.gate_up'], e * 2 * I * H, 2 * I * H);
      clearBits(matrices['experts.down'], e * H * I, H * I);
    }
  }
  const pieces = layerPieces(spec, layer, request.targets, droppedSet);
  const factorBuffers: GPUBuffer[] = [];
  try {
    const gated = request.method === 'moe-pruner';
    const needsFactors = usesColumnFactors(settings.method);
    if (needsFactors && !stats) throw new Error(`layer ${layer}: ${request.method} needs calibration statistics`);
    const requests: GpuPruneMatrix[] = [];
    for (const [i, piece] of pieces.entries()) {
      const matrix = maskedMatrix(model, layer, piece.key)!;
      let factors: GPUBuffer | null = null;
      if (needsFactors) {
        factors = await ctx.upload(`column factors ${piece.label}`, columnFactors(piece.statistic(stats!, gated), statisticName(piece, gated)));
        factorBuffers.push(factors);
      }
      requests.push({
        label: piece.label,
        rows: piece.rows,
        cols: piece.cols,
        layerGroup: piece.layerGroup,
        // A stream per layer and piece, so random pruning draws differently everywhere and the same every run.
        randomStream: layer * 65536 + i,
        weights: matrix.buffer,
        weightOffset: piece.elementOffset,
        dtype: matrix.dtype,
        columnFactors: factors,
      });
    }
    if (requests.length) {
      const slots = await computeMasks(ctx, settings, requests);
      try {
        for (const [i, slot] of slots.entries()) {
          const piece = pieces[i];
          copyBits(matrices[piece.key]!, piece.elementOffset, await readMask(ctx, slot), slot.elements);
        }
      } finally {
        for (const slot of slots) if (slot.created) slot.buffer.destroy();
      }
    }
    ctx.throwIfFailed();
  } finally {
    for (const b of factorBuffers) b.destroy();
  }
  const out: LayerMasks = { matrices };
  if (dropped.length) out.expertEnabled = Uint8Array.from({ length: spec.numExperts }, (_, e) => (droppedSet.has(e) ? 0 : 1));
  return out;
}

/** The statistics-file name of a piece's column statistic, for error messages. */
function statisticName(piece: PrunePiece, gated: boolean): string {
  const suffix = gated && !piece.kind.startsWith('attn') ? '_gated' : '';
  if (piece.kind.startsWith('attn')) return piece.label.replace(/self_attn\.\w+_proj$/, piece.kind === 'attn.o' ? 'attn.o_input_sqnorm' : 'attn.input_sqnorm');
  const owner = piece.label.replace(/\.(gate|up|down)$/, '');
  return `${owner}.${piece.kind.endsWith('down') ? 'inter_sqnorm' : 'input_sqnorm'}${suffix}`;
}
