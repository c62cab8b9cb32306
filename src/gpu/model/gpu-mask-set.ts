/**
 * Pruning masks on the GPU (src/engine/model/mask-set.ts MaskSet): one keep-mask bitset buffer per masked canonical
 * matrix and a per-layer [E] u32 "expert enabled" vector. The forward applies them on the fly (a masked weight
 * reads as 0, a dropped expert's router logit as -inf), so dense and pruned runs share one copy of the weights.
 */
import type { MaskSet, MatrixKey } from '../../engine/model/mask-set.ts';
import { GpuError } from '../errors.ts';
import { maskWords } from '../weights.ts';
import type { GpuModel, MatrixInfo } from './gpu-model.ts';
import type { GpuMatrix } from './tensor-upload.ts';

export interface GpuLayerMasks {
  matrices: Partial<Record<MatrixKey, GPUBuffer>>;
  /** [E] u32, 1 = enabled; null: every expert enabled. */
  expertEnabled: GPUBuffer | null;
  /** Steering: every token of the layer routed to this expert alone with gate 1 (src/engine/model/steering.ts). */
  forcedExpert?: number;
  /**
   * Replacement weights per matrix (same dtype and canonical layout as the model's), read instead of the model's
   * own: SparseGPT's updated weights (src/gpu/sparsegpt). Absent key: the model's weights.
   */
  weights?: Partial<Record<MatrixKey, GPUBuffer>>;
}

export class GpuMaskSet {
  constructor(
    readonly layers: (GpuLayerMasks | null)[],
    private readonly buffers: GPUBuffer[],
  ) {}

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

/** The canonical matrix a mask key names in layer `l` (on the GPU now: a streamed model's acquired layer), or null when the layer has none. */
export function maskedMatrix(model: GpuModel, l: number, key: MatrixKey): GpuMatrix | null {
  const layer = model.layers[l];
  switch (key) {
    case 'experts.gate_up':
      return layer.experts?.gateUp ?? null;
    case 'experts.down':
      return layer.experts?.down ?? null;
    // MLA layers have no k/v (nor q, under a q LoRA) projection to mask.
    case 'attn.q':
      return layer.q?.weight ?? null;
    case 'attn.k':
      return layer.k?.weight ?? null;
    case 'attn.v':
      return layer.v?.weight ?? null;
    case 'attn.o':
      return layer.o.weight;
    case 'attn.q_a':
      return layer.mla?.qA?.weight ?? null;
    case 'attn.q_b':
      return layer.mla?.qB ?? null;
    case 'attn.kv_a':
      return layer.mla?.kvA.weight ?? null;
    case 'attn.kv_b':
      return layer.mla?.kvB ?? null;
    case 'shared.gate_up':
      return layer.shared?.gateUp ?? null;
    case 'shared.down':
      return layer.shared?.down ?? null;
  }
}

/** The name, dtype and size of the matrix a mask key names in layer `l` (resident or not), or null when the layer has none. */
export function maskedMatrixInfo(model: GpuModel, l: number, key: MatrixKey): MatrixInfo | null {
  return model.matrixInfos[l]?.[key] ?? null;
}

/** Uploads `masks` for `model`, checking every bitset's length against the matrix it masks. */
export async function uploadMasks(model: GpuModel, masks: MaskSet): Promise<GpuMaskSet> {
  const { ctx, spec } = model;
  if (masks.layers.length !== spec.numLayers) {
    throw new GpuError('validation', `the mask set has ${masks.layers.length} layers, the model ${spec.numLayers}`);
  }
  const buffers: GPUBuffer[] = [];
  try {
    const layers: (GpuLayerMasks | null)[] = [];
    for (const [l, m] of masks.layers.entries()) {
      if (!m) {
        layers.push(null);
        continue;
      }
      const matrices: Partial<Record<MatrixKey, GPUBuffer>> = {};
      for (const [key, bits] of Object.entries(m.matrices) as [MatrixKey, Uint32Array][]) {
        const matrix = maskedMatrixInfo(model, l, key);
        if (!matrix) throw new GpuError('validation', `mask layers.${l}.${key}: this model's layer ${l} has no such matrix`);
        if (bits.length !== maskWords(matrix.elements)) {
          throw new GpuError('validation', `mask layers.${l}.${key} has ${bits.length} words, ${matrix.name} needs ${maskWords(matrix.elements)}`);
        }
        const buffer = await ctx.upload(`mask layers.${l}.${key}`, bits);
        buffers.push(buffer);
        matrices[key] = buffer;
      }
      let expertEnabled: GPUBuffer | null = null;
      if (m.expertEnabled) {
        if (!spec.moeLayers[l] || m.expertEnabled.length !== spec.numExperts) {
          throw new GpuError(
            'validation',
            `mask layers.${l}.expertEnabled has ${m.expertEnabled.length} entries, layer ${l} has ${spec.moeLayers[l] ? spec.numExperts : 0} experts`,
          );
        }
        expertEnabled = await ctx.upload(`mask layers.${l}.expertEnabled`, Uint32Array.from(m.expertEnabled));
        buffers.push(expertEnabled);
      }
      layers.push({ matrices, expertEnabled, ...(m.forcedExpert !== undefined ? { forcedExpert: m.forcedExpert } : {}) });
    }
    return new GpuMaskSet(layers, buffers);
  } catch (error) {
    for (const b of buffers) b.destroy();
    throw error;
  }
}
