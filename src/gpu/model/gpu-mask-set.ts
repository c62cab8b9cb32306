/**
 * Pruning masks on the GPU (src/engine/model/mask-set.ts MaskSet): one keep-mask bitset buffer per masked canonical
 * matrix and a per-layer [E] u32 "expert enabled" vector. The forward applies them on the fly (a masked weight
 * reads as 0, a dropped expert's router logit as -inf), so dense and pruned runs share one copy of the weights.
 */
import type { MaskSet, MatrixKey } from '../../engine/model/mask-set.ts';
import type { GpuContext } from '../context.ts';
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

/** One layer's part of a mask set in host memory: what a streamed model keeps of the layers that are off the GPU. */
export interface HostLayerMasks {
  /** Keep-mask bitsets (the GPU buffers' words, whole). */
  matrices: Partial<Record<MatrixKey, Uint32Array>>;
  /** [E] u32, 1 = enabled; null: every expert enabled (or the base set's vector). */
  expertEnabled: Uint32Array | null;
  forcedExpert?: number;
  /** Replacement weights as stored bytes (SparseGPT's updated weights, quantized weights). */
  weights: Partial<Record<MatrixKey, Uint8Array>>;
}

/** The most bytes one read-back copies at a time (its staging buffer counts against the GPU memory budget). */
export const MASK_READBACK_CHUNK = 4 * 1024 * 1024;

/**
 * The masks (and replacement weights) the forward runs each layer with. Resident model: everything on the GPU from
 * construction to `destroy`. Streamed model (docs/forward.md "Layer streaming"): a set made with `forModel` follows
 * the model's layers: a layer's part lives in host memory while the layer is off the GPU and goes up with it
 * (GpuModel.acquire calls `acquireLayer`) and is freed with it (`releaseLayer`), so masks and SparseGPT's updated
 * weights take one layer's worth of GPU memory, not the model's. `layers[l]` is what the forward reads: the layer's
 * part merged over the `base` set's (steering and quantization add to the masks in force), and null for a streamed
 * layer that is not on the GPU now.
 */
export class GpuMaskSet {
  readonly layers: (GpuLayerMasks | null)[];
  /** This set's own part of each layer while it is on the GPU, and the buffers that part owns. */
  private readonly own: (GpuLayerMasks | null)[];
  private readonly owned: GPUBuffer[][] = [];
  /** Streamed: each layer's own part in host memory (the GPU copy, while there is one, is uploaded from it). */
  private readonly host: (HostLayerMasks | null)[] = [];

  /** A resident set: `layers` as given (merged over `base`'s), owning `buffers`. */
  constructor(
    layers: (GpuLayerMasks | null)[],
    private readonly buffers: GPUBuffer[],
    private readonly base: GpuMaskSet | null = null,
    private readonly model: GpuModel | null = null,
  ) {
    this.own = [...layers];
    this.layers = layers.map((layer, l) => mergeLayer(base?.layers[l] ?? null, layer));
  }

  /**
   * An empty set for `model` to fill layer by layer (`put`, `putHost`); over `base` when given (its layers show
   * through where this set has no part). A streamed model keeps it in step with its layers until `destroy`.
   */
  static forModel(model: GpuModel, base: GpuMaskSet | null = null): GpuMaskSet {
    const set = new GpuMaskSet(
      model.spec.moeLayers.map(() => null),
      [],
      base,
      model,
    );
    if (model.streamed) model.attach(set);
    return set;
  }

  private get streamed(): boolean {
    return this.model?.streamed === true;
  }

  private onGpu(l: number): boolean {
    return !this.streamed || this.model!.holds(l);
  }

  private refresh(l: number): void {
    this.layers[l] = this.onGpu(l) ? mergeLayer(this.base?.layers[l] ?? null, this.own[l] ?? null) : null;
  }

  /** Layer l's part from GPU buffers this set now owns (`buffers`); off the GPU at once when a streamed layer is not up. */
  async put(l: number, masks: GpuLayerMasks, buffers: GPUBuffer[]): Promise<void> {
    this.drop(l);
    this.own[l] = masks;
    this.owned[l] = buffers;
    if (!this.onGpu(l)) await this.park(l);
    this.refresh(l);
  }

  /** Layer l's part from host memory: uploaded now when the layer is on the GPU, else when it comes up. */
  async putHost(l: number, masks: HostLayerMasks): Promise<void> {
    this.drop(l);
    if (this.streamed) this.host[l] = masks;
    if (this.onGpu(l)) await this.upload(l, masks);
    this.refresh(l);
  }

  /** Layer l's own part on the CPU (read back when only the GPU holds it), or null when the set has none. */
  async readLayer(l: number): Promise<HostLayerMasks | null> {
    const host = this.host[l];
    if (host) return host;
    const own = this.own[l];
    return own ? readHostMasks(this.ctx, own) : null;
  }

  /** Changes layer l's own part (an empty one when it has none) through its host copy. */
  async update(l: number, change: (masks: HostLayerMasks) => void): Promise<void> {
    const masks = (await this.readLayer(l)) ?? { matrices: {}, expertEnabled: null, weights: {} };
    change(masks);
    await this.putHost(l, masks);
  }

  /** GPU bytes layer l's part takes when it goes up with its layer (0 while it is on the GPU or the set has none there). */
  layerBytes(l: number): number {
    const host = this.host[l];
    if (!host || this.own[l]) return 0;
    const arrays = [...Object.values(host.matrices), ...Object.values(host.weights), host.expertEnabled];
    return arrays.reduce((sum, a) => sum + (a ? Math.max(4, Math.ceil(a.byteLength / 4) * 4) : 0), 0);
  }

  /** GpuModel.acquire(l): the layer's part goes up with the layer. */
  async acquireLayer(l: number): Promise<void> {
    const host = this.host[l];
    if (host && !this.own[l]) await this.upload(l, host);
    this.refresh(l);
  }

  /** GpuModel.release(l): the layer's part stays in host memory only. */
  async releaseLayer(l: number): Promise<void> {
    await this.park(l);
    this.layers[l] = null;
  }

  private get ctx() {
    const ctx = this.model?.ctx;
    if (!ctx) throw new Error('this mask set was not made for a model (GpuMaskSet.forModel)');
    return ctx;
  }

  private async upload(l: number, masks: HostLayerMasks): Promise<void> {
    const buffers: GPUBuffer[] = [];
    const up = async (label: string, data: Uint32Array | Uint8Array) => {
      const buffer = await this.ctx.upload(label, data);
      buffers.push(buffer);
      return buffer;
    };
    try {
      const layer: GpuLayerMasks = { matrices: {}, expertEnabled: null, weights: {} };
      for (const [key, bits] of entries(masks.matrices)) layer.matrices[key] = await up(`mask layers.${l}.${key}`, bits);
      for (const [key, bytes] of entries(masks.weights)) layer.weights![key] = await up(`weights layers.${l}.${key}`, bytes);
      if (masks.expertEnabled) layer.expertEnabled = await up(`mask layers.${l}.expertEnabled`, masks.expertEnabled);
      if (masks.forcedExpert !== undefined) layer.forcedExpert = masks.forcedExpert;
      this.own[l] = layer;
      this.owned[l] = buffers;
    } catch (error) {
      for (const b of buffers) b.destroy();
      throw error;
    }
  }

  /** Layer l's own part into host memory (read back once: later the host copy is current) and off the GPU. */
  private async park(l: number): Promise<void> {
    const own = this.own[l];
    if (!own) return;
    this.host[l] ??= await readHostMasks(this.ctx, own);
    for (const b of this.owned[l] ?? []) b.destroy();
    this.own[l] = null;
    this.owned[l] = [];
  }

  /** Forgets layer l's own part (GPU buffers and host copy). */
  private drop(l: number): void {
    for (const b of this.owned[l] ?? []) b.destroy();
    this.own[l] = null;
    this.owned[l] = [];
    this.host[l] = null;
  }

  destroy(): void {
    for (let l = 0; l < this.own.length; l++) this.drop(l);
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
    this.model?.detach(this);
  }
}

const entries = <T>(record: Partial<Record<MatrixKey, T>>) => Object.entries(record) as [MatrixKey, T][];

/** `own` over `base`: own's bitsets and weights replace base's per key, its expert vector and forced expert where it has them. */
function mergeLayer(base: GpuLayerMasks | null, own: GpuLayerMasks | null): GpuLayerMasks | null {
  if (!own || !base) return own ?? base;
  const forcedExpert = own.forcedExpert ?? base.forcedExpert;
  return {
    matrices: { ...base.matrices, ...own.matrices },
    weights: { ...base.weights, ...own.weights },
    expertEnabled: own.expertEnabled ?? base.expertEnabled,
    ...(forcedExpert !== undefined ? { forcedExpert } : {}),
  };
}

/** A buffer's bytes, read back in pieces of at most MASK_READBACK_CHUNK (one staging buffer of that size at a time). */
export async function readBufferChunked(ctx: GpuContext, buffer: GPUBuffer): Promise<Uint8Array> {
  const out = new Uint8Array(buffer.size);
  for (let offset = 0; offset < buffer.size; offset += MASK_READBACK_CHUNK) {
    out.set(new Uint8Array(await ctx.read(buffer, offset, Math.min(MASK_READBACK_CHUNK, buffer.size - offset))), offset);
  }
  return out;
}

/** A layer's masks on the GPU copied into host memory. */
async function readHostMasks(ctx: GpuContext, layer: GpuLayerMasks): Promise<HostLayerMasks> {
  const words = async (buffer: GPUBuffer) => {
    const bytes = await readBufferChunked(ctx, buffer);
    return new Uint32Array(bytes.buffer, 0, bytes.byteLength / 4);
  };
  const out: HostLayerMasks = { matrices: {}, expertEnabled: layer.expertEnabled ? await words(layer.expertEnabled) : null, weights: {} };
  for (const [key, buffer] of entries(layer.matrices)) out.matrices[key] = await words(buffer);
  for (const [key, buffer] of entries(layer.weights ?? {})) out.weights[key] = await readBufferChunked(ctx, buffer);
  if (layer.forcedExpert !== undefined) out.forcedExpert = layer.forcedExpert;
  return out;
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

/**
 * `masks` for `model`, every bitset's length checked against the matrix it masks: on the GPU now (resident model),
 * or in host memory, each layer's going up with the layer (streamed).
 */
export async function uploadMasks(model: GpuModel, masks: MaskSet): Promise<GpuMaskSet> {
  const { spec } = model;
  if (masks.layers.length !== spec.numLayers) {
    throw new GpuError('validation', `the mask set has ${masks.layers.length} layers, the model ${spec.numLayers}`);
  }
  const set = GpuMaskSet.forModel(model);
  try {
    for (const [l, m] of masks.layers.entries()) {
      if (!m) continue;
      const matrices: Partial<Record<MatrixKey, Uint32Array>> = {};
      for (const [key, bits] of Object.entries(m.matrices) as [MatrixKey, Uint32Array][]) {
        const matrix = maskedMatrixInfo(model, l, key);
        if (!matrix) throw new GpuError('validation', `mask layers.${l}.${key}: this model's layer ${l} has no such matrix`);
        if (bits.length !== maskWords(matrix.elements)) {
          throw new GpuError('validation', `mask layers.${l}.${key} has ${bits.length} words, ${matrix.name} needs ${maskWords(matrix.elements)}`);
        }
        matrices[key] = bits;
      }
      if (m.expertEnabled && (!spec.moeLayers[l] || m.expertEnabled.length !== spec.numExperts)) {
        throw new GpuError(
          'validation',
          `mask layers.${l}.expertEnabled has ${m.expertEnabled.length} entries, layer ${l} has ${spec.moeLayers[l] ? spec.numExperts : 0} experts`,
        );
      }
      const expertEnabled = m.expertEnabled ? Uint32Array.from(m.expertEnabled) : null;
      await set.putHost(l, { matrices, expertEnabled, weights: {}, ...(m.forcedExpert !== undefined ? { forcedExpert: m.forcedExpert } : {}) });
    }
    return set;
  } catch (error) {
    set.destroy();
    throw error;
  }
}
