/**
 * GpuModel: a checkpoint's weights on the GPU in the engine's canonical layout, whatever the stored names and
 * layout were (docs/forward.md): per MoE layer the routed experts stacked as gate_up [E, 2I, H] (each expert's I
 * gate rows, then its I up rows) and down [E, H, I]; attention, router, shared-expert and LM-head matrices as
 * stored ([out, in]); all matrices in the checkpoint dtype (f16/bf16 packed two per u32), norms and biases f32.
 * Upload is layer by layer, with a progress callback: a layer of up to 64 MiB is read into host memory in a few ranges,
 * a larger one tensor by tensor; either goes up tensor by tensor.
 * A streamed model (UploadOptions.stream) keeps only the embedding, final norm and LM head resident and brings each
 * decoder layer up when a pass needs it (acquire / release), reading the next layer while the GPU computes.
 */
import { planCanonicalExperts, readExpertCopy, readGptOssBiases, readGptOssExperts } from '../../engine/model/expert-layout.ts';
import type { Checkpoint } from '../../engine/model/checkpoint.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { DTYPE_BYTES } from '../../engine/io/safetensors.ts';
import { TENSOR_SPAN, tensorInfo, withTensorsInMemory } from '../../engine/model/checkpoint.ts';
import type { MatrixKey } from '../../engine/model/mask-set.ts';
import type { MoeModelSpec, WeightDtype } from '../../engine/model/spec.ts';
import { gptOssMatrixTensors, mxfp4Names, type FfnNames, type LayerNames, type LinearNames, type NormNames } from '../../engine/model/weights.ts';
import type { GpuContext } from '../context.ts';
import { MAX_GROUPS, MAX_TOP_K } from '../kernels/moe/route.ts';
import { MAX_HEAD_DIM } from '../kernels/nn/attention.ts';
import { noteLayersResident } from '../memory.ts';
import { SequentialWriter, TensorUploader, weightDtypeOf, type GpuMatrix, type UploadProgress } from './tensor-upload.ts';

export interface GpuNorm {
  weight: GPUBuffer; // [width] f32
  bias: GPUBuffer | null; // [width] f32
}

export interface GpuLinear {
  weight: GpuMatrix; // [out, in]
  bias: GPUBuffer | null; // [out] f32
}

/** A SwiGLU FFN: gate_up [2W, H] (gate rows first), down [H, W]. */
export interface GpuFfn {
  gateUp: GpuMatrix;
  down: GpuMatrix;
  width: number; // W
}

/** Multi-head latent attention's weights (see MlaNames). */
export interface GpuMla {
  qA: GpuLinear | null; // [rq, H]
  qANorm: GPUBuffer | null; // [rq] f32
  qB: GpuMatrix | null; // [Hq*D, rq]
  kvA: GpuLinear; // [r + dr, H]
  kvANorm: GPUBuffer; // [r] f32
  kvB: GpuMatrix; // [Hq*(dn + dv), r]
}

export interface GpuLayer {
  inputNorm: GpuNorm;
  postAttentionNorm: GpuNorm;
  /** q_proj (null under MLA with a q LoRA); k_proj and v_proj (null under MLA). */
  q: GpuLinear | null;
  k: GpuLinear | null;
  v: GpuLinear | null;
  o: GpuLinear;
  mla: GpuMla | null;
  qNorm: GPUBuffer | null; // [D] per head or [heads * D] full width, f32
  kNorm: GPUBuffer | null;
  /** MoE layers: router [E, H] and the stacked experts. */
  router: GpuMatrix | null;
  experts: { gateUp: GpuMatrix; down: GpuMatrix } | null; // [E, 2I, H], [E, H, I]
  shared: GpuFfn | null;
  sharedGate: GpuMatrix | null; // [1, H] (Qwen2-MoE)
  correctionBias: GPUBuffer | null; // [E] f32 (DeepSeek-V3, GLM-4.5: selection only)
  /** gpt_oss: router bias [E], expert biases gate_up [E, 2I] (gate then up) and down [E, H], sinks [Hq]; f32. */
  routerBias: GPUBuffer | null;
  expertBias: { gateUp: GPUBuffer; down: GPUBuffer } | null;
  sinks: GPUBuffer | null;
  /** Dense (non-MoE) layers. */
  dense: GpuFfn | null;
}

export interface UploadOptions {
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
  /**
   * Layer streaming (docs/forward.md "Layer streaming"): upload only the embedding, final norm and LM head now;
   * each decoder layer goes up when a pass needs it (`acquire`) and is freed after (`release`).
   */
  stream?: boolean;
  /** Layers of at most this many stored bytes are read in a few ranges before they upload (default TENSOR_SPAN.maxBytes). */
  inMemoryLayerBytes?: number;
}

/** A canonical matrix's name, dtype and element count, known without its weights on the GPU (masks, exports). */
export interface MatrixInfo {
  name: string;
  dtype: WeightDtype;
  elements: number;
}

/**
 * The streaming decision, one rule for the CLI and the page: a model whose weight bytes do not fit the GPU memory
 * budget streams its layers; without a budget (null) everything is resident.
 */
export function streamsUnder(budget: number | null, weightBytes: number): boolean {
  return budget !== null && weightBytes > budget;
}

/** `streamsUnder` for `checkpoint` on `ctx`: what every upload of a whole model asks (lab session, distillation). */
export function streamsOn(ctx: GpuContext, checkpoint: Checkpoint): boolean {
  return streamsUnder(ctx.memory.budget, checkpointWeightBytes(checkpoint));
}

/** Bytes of every tensor the GPU model reads from `checkpoint` (what a resident upload puts on the GPU, near enough). */
export function checkpointWeightBytes(checkpoint: Checkpoint): number {
  const tensors = [...residentTensors(checkpoint), ...checkpoint.names.layers.flatMap(layerTensors)];
  return tensors.reduce((sum, name) => sum + checkpoint.tensors.get(name)!.info.byteLength, 0);
}

/** Per-layer GPU data that comes up with a streamed model's layer and goes back to host memory with it. */
export interface LayerCompanion {
  acquireLayer(l: number): Promise<void>;
  releaseLayer(l: number): Promise<void>;
  /** GPU bytes `acquireLayer(l)` allocates. */
  layerBytes(l: number): number;
}

export class GpuModel {
  /** Decoder layers on the GPU now (a streamed model's slots; every layer when resident); the most at once. */
  layersResident = 0;
  layersResidentPeak = 0;
  /** Bytes read from the checkpoint for layers brought in by streaming (each pass reads them again). */
  streamedBytes = 0;
  /** Buffers of each resident layer of a streamed model, and layers whose bytes are being read ahead (host memory). */
  private readonly held = new Map<number, GPUBuffer[]>();
  private readonly ahead = new Map<number, Promise<Checkpoint | null>>();
  /** What follows a streamed model's layers on and off the GPU (mask sets: GpuMaskSet.forModel), in attach order. */
  private readonly companions = new Set<LayerCompanion>();

  private constructor(
    readonly ctx: GpuContext,
    readonly spec: MoeModelSpec,
    readonly embedding: GpuMatrix, // [V, H]
    readonly finalNorm: GpuNorm,
    readonly lmHead: GpuLinear, // [V, H]; the embedding itself when tied
    /** Per decoder layer; a streamed model fills only the slots acquired now (recordLayer reads them). */
    readonly layers: GpuLayer[],
    /** [E] u32 of ones: the "expert enabled" vector when no expert is dropped. */
    readonly allExpertsEnabled: GPUBuffer,
    /** Bytes of weights read from the checkpoint. */
    readonly bytes: number,
    private readonly buffers: GPUBuffer[],
    /** The checkpoint a streamed model reads its layers from (null: every layer resident). */
    private readonly source: Checkpoint | null,
    /** Per layer, its masked matrices' names, dtypes and sizes (gpu-mask-set.ts maskedMatrixInfo). */
    readonly matrixInfos: Partial<Record<MatrixKey, MatrixInfo>>[],
    /** Per layer, the bytes its tensors take in the checkpoint. */
    readonly layerBytes: number[],
  ) {}

  /** Uploads every weight of `checkpoint` (only the resident parts when `options.stream`); on failure, frees what was already allocated. */
  static async upload(ctx: GpuContext, checkpoint: Checkpoint, options: UploadOptions = {}): Promise<GpuModel> {
    const { names, spec } = checkpoint;
    const unsupported = unsupportedOnGpu(spec);
    if (unsupported) throw new ModelFileError(checkpoint.folder.name, 'unsupported', unsupported);
    const stored = (list: string[]) => list.reduce((sum, name) => sum + checkpoint.tensors.get(name)!.info.byteLength, 0);
    const resident = residentTensors(checkpoint);
    const layerBytes = names.layers.map((n) => stored(layerTensors(n)));
    const totalBytes = stored(resident) + layerBytes.reduce((a, b) => a + b, 0);
    const uploaded = options.stream ? resident : [...resident, ...names.layers.flatMap(layerTensors)];
    const up = new TensorUploader(ctx, checkpoint, stored(uploaded), uploaded.length, options.onProgress);
    const checkAbort = () => options.signal?.throwIfAborted();
    try {
      const embedding = await up.matrix([names.embedding]);
      const layers: GpuLayer[] = [];
      if (!options.stream) {
        for (let l = 0; l < names.layers.length; l++) {
          checkAbort();
          // A layer up to one span's bytes comes into host memory in a few reads; a larger one is read tensor by
          // tensor as it uploads, so that a resident upload never holds more than TENSOR_SPAN.maxBytes of it (a
          // large tensor's request costs little next to its bytes).
          up.checkpoint =
            layerBytes[l] <= (options.inMemoryLayerBytes ?? TENSOR_SPAN.maxBytes) ? await readLayerAhead(checkpoint, l, options.signal) : checkpoint;
          layers.push(await uploadLayer(up, up.checkpoint, l));
        }
        up.checkpoint = checkpoint;
      }
      checkAbort();
      const finalNorm = await uploadNorm(up, names.finalNorm);
      const lmHead = names.lmHead ? await uploadLinear(up, names.lmHead) : { weight: embedding, bias: null };
      const allExpertsEnabled = await up.allocate('experts enabled (all)', spec.numExperts * 4);
      ctx.write(allExpertsEnabled, new Uint32Array(spec.numExperts).fill(1));
      const infos = names.layers.map((_, l) => layerMatrixInfos(checkpoint, l));
      const source = options.stream ? checkpoint : null;
      const model = new GpuModel(ctx, spec, embedding, finalNorm, lmHead, layers, allExpertsEnabled, totalBytes, up.buffers, source, infos, layerBytes);
      model.layersResident = model.layersResidentPeak = layers.length;
      noteLayersResident(model.streamed, layers.length);
      return model;
    } catch (error) {
      up.destroyAll();
      throw error;
    }
  }

  /** True when decoder layers are uploaded per pass (acquire/release) instead of once. */
  get streamed(): boolean {
    return this.source !== null;
  }

  /**
   * Layer l's weights on the GPU until `release(l)` (a resident model: nothing to do). A streamed model uploads the
   * bytes read ahead, or reads them now by ranges, then starts reading layer `next`'s bytes (default l + 1) into
   * host memory so the read overlaps the caller's computation on layer l. Only acquired layers use GPU memory.
   */
  async acquire(l: number, next: number | null = l + 1 < this.spec.numLayers ? l + 1 : null): Promise<void> {
    if (!this.source || this.held.has(l)) return;
    const pending = this.ahead.get(l);
    this.ahead.delete(l);
    // A failed read-ahead is read again here, so its error (if it persists) surfaces from this call.
    const bytes = (pending ? await pending : null) ?? (await readLayerAhead(this.source, l));
    this.install(l, await this.load(l, bytes));
    try {
      for (const companion of this.companions) await companion.acquireLayer(l);
    } catch (error) {
      await this.release(l);
      throw error;
    }
    if (next !== null && next !== l && !this.held.has(next) && !this.ahead.has(next)) {
      this.ahead.set(
        next,
        readLayerAhead(this.source, next).catch(() => null),
      );
    }
  }

  /**
   * Frees layer l's weights of a streamed model (call once the GPU work that reads them has finished), then moves
   * its companions' part to host memory (after the weights are gone, so their read-back has that room).
   */
  async release(l: number): Promise<void> {
    if (!this.held.has(l)) return;
    this.freeLayer(l);
    for (const companion of this.companions) await companion.releaseLayer(l);
  }

  private freeLayer(l: number): void {
    for (const b of this.held.get(l)!) b.destroy();
    this.held.delete(l);
    delete this.layers[l];
    this.layersResident--;
  }

  /**
   * The most GPU bytes bringing one decoder layer up allocates: its weights plus its companions' part (masks,
   * updated weights); 0 for a resident model. What a pass keeps free beside its own buffers (ResidualStash).
   */
  layerUpBytes(): number {
    if (!this.source) return 0;
    let most = 0;
    for (const [l, weights] of this.layerBytes.entries()) {
      let bytes = weights;
      for (const companion of this.companions) bytes += companion.layerBytes(l);
      most = Math.max(most, bytes);
    }
    return most;
  }

  /** Whether layer l's weights are on the GPU now (always, for a resident model). */
  holds(l: number): boolean {
    return !this.source || this.held.has(l);
  }

  /** Keeps `companion` in step with the layers of this (streamed) model until `detach`. */
  attach(companion: LayerCompanion): void {
    this.companions.add(companion);
  }

  detach(companion: LayerCompanion): void {
    this.companions.delete(companion);
  }

  /**
   * Runs `use` with layer l on the GPU and, for a streamed model, frees it after the GPU is idle. The common form of
   * acquire/release for drivers that visit each layer once.
   */
  async withLayer<T>(l: number, use: () => Promise<T>, next?: number | null): Promise<T> {
    const wasHeld = this.held.has(l) || !this.source;
    await this.acquire(l, next);
    try {
      return await use();
    } finally {
      if (!wasHeld) {
        await this.ctx.idle();
        await this.release(l);
      }
    }
  }

  /** Layer l onto the GPU from `checkpoint` (the model's, or a view of it with the layer's bytes read ahead). */
  private async load(l: number, checkpoint: Checkpoint): Promise<{ layer: GpuLayer; buffers: GPUBuffer[] }> {
    const tensors = layerTensors(checkpoint.names.layers[l]);
    const up = new TensorUploader(this.ctx, checkpoint, this.layerBytes[l], tensors.length);
    try {
      const layer = await uploadLayer(up, checkpoint, l);
      this.streamedBytes += this.layerBytes[l];
      return { layer, buffers: up.buffers };
    } catch (error) {
      up.destroyAll();
      throw error;
    }
  }

  private install(l: number, loaded: { layer: GpuLayer; buffers: GPUBuffer[] }): void {
    this.layers[l] = loaded.layer;
    this.held.set(l, loaded.buffers);
    this.layersResident++;
    this.layersResidentPeak = Math.max(this.layersResidentPeak, this.layersResident);
    noteLayersResident(true, this.layersResident);
  }

  destroy(): void {
    for (const l of [...this.held.keys()]) this.freeLayer(l);
    this.companions.clear();
    this.ahead.clear();
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

/**
 * Layer l's tensors read into host memory in a few range reads (withTensorsInMemory): a view of `checkpoint` whose
 * layer-l tensors answer from memory, so the GPU upload that follows reads nothing from the files.
 */
function readLayerAhead(checkpoint: Checkpoint, l: number, signal?: AbortSignal): Promise<Checkpoint> {
  return withTensorsInMemory(checkpoint, layerTensors(checkpoint.names.layers[l]), signal);
}

const uploadNorm = async (up: TensorUploader, n: NormNames): Promise<GpuNorm> => ({ weight: await up.f32(n.weight), bias: await up.optionalF32(n.bias) });
const uploadLinear = async (up: TensorUploader, n: LinearNames): Promise<GpuLinear> => ({
  weight: await up.matrix([n.weight]),
  bias: await up.optionalF32(n.bias),
});

/** Decoder layer l's weights, tensor by tensor from `checkpoint` (a view with them in memory), through `up` (whose buffers then hold them). */
async function uploadLayer(up: TensorUploader, checkpoint: Checkpoint, l: number): Promise<GpuLayer> {
  const { spec } = checkpoint;
  const n = checkpoint.names.layers[l];
  const linear = (names: LinearNames) => uploadLinear(up, names);
  const ffn = async (names: FfnNames, width: number): Promise<GpuFfn> => ({
    gateUp: await up.matrix([names.gate, names.up], `${names.gate} + ${names.up} (gate_up [${2 * width}, ${spec.hiddenSize}])`),
    down: await up.matrix([names.down]),
    width,
  });
  return {
    inputNorm: await uploadNorm(up, n.inputNorm),
    postAttentionNorm: await uploadNorm(up, n.postAttentionNorm),
    q: n.q ? await linear(n.q) : null,
    k: n.k ? await linear(n.k) : null,
    v: n.v ? await linear(n.v) : null,
    mla: n.mla
      ? {
          qA: n.mla.qA ? await linear(n.mla.qA) : null,
          qANorm: await up.optionalF32(n.mla.qANorm),
          qB: n.mla.qB ? await up.matrix([n.mla.qB]) : null,
          kvA: await linear(n.mla.kvA),
          kvANorm: await up.f32(n.mla.kvANorm),
          kvB: await up.matrix([n.mla.kvB]),
        }
      : null,
    o: await linear(n.o),
    qNorm: await up.optionalF32(n.qNorm),
    kNorm: await up.optionalF32(n.kNorm),
    router: n.router ? await up.matrix([n.router]) : null,
    ...(n.experts?.layout === 'gpt-oss'
      ? await uploadGptOssExperts(up, checkpoint, l)
      : { experts: n.experts ? await uploadExperts(up, checkpoint, l) : null, expertBias: null }),
    routerBias: await up.optionalF32(n.routerBias),
    sinks: await up.optionalF32(n.sinks),
    shared: n.shared && spec.sharedExpert ? await ffn(n.shared, spec.sharedExpert.ffnSize) : null,
    sharedGate: n.sharedGate ? await up.matrix([n.sharedGate]) : null,
    correctionBias: await up.optionalF32(n.correctionBias),
    dense: n.dense ? await ffn(n.dense, spec.denseFfnSize) : null,
  };
}

/**
 * The masked matrices of layer l as uploadLayer names and sizes them, from the checkpoint's headers alone: the
 * canonical experts [E, 2I, H] / [E, H, I] (gpt_oss's decoded to f32), the attention projections (MLA's too) and the shared
 * expert's gate_up [2S, H] / down [H, S] in their stored dtype.
 */
function layerMatrixInfos(checkpoint: Checkpoint, l: number): Partial<Record<MatrixKey, MatrixInfo>> {
  const { spec } = checkpoint;
  const n = checkpoint.names.layers[l];
  const stored = (name: string, label = name, parts = [name]): MatrixInfo => {
    const infos = parts.map((part) => tensorInfo(checkpoint, part));
    const elements = infos.reduce((sum, info) => sum + info.byteLength / DTYPE_BYTES[info.dtype], 0);
    return { name: label, dtype: weightDtypeOf(checkpoint, name, infos[0].dtype), elements };
  };
  const out: Partial<Record<MatrixKey, MatrixInfo>> = {};
  if (n.experts) {
    const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
    const first = n.experts.layout === 'gpt-oss' ? null : planCanonicalExperts(checkpoint, l).copies[0].tensor.info;
    const dtype = first ? weightDtypeOf(checkpoint, first.name, first.dtype) : 'f32';
    const prefix = `model.layers.${l} experts`;
    out['experts.gate_up'] = { name: `${prefix} gate_up`, dtype, elements: E * 2 * I * H };
    out['experts.down'] = { name: `${prefix} down`, dtype, elements: E * H * I };
  }
  if (n.q) out['attn.q'] = stored(n.q.weight);
  if (n.k) out['attn.k'] = stored(n.k.weight);
  if (n.v) out['attn.v'] = stored(n.v.weight);
  out['attn.o'] = stored(n.o.weight);
  if (n.mla?.qA) out['attn.q_a'] = stored(n.mla.qA.weight);
  if (n.mla?.qB) out['attn.q_b'] = stored(n.mla.qB);
  if (n.mla) out['attn.kv_a'] = stored(n.mla.kvA.weight);
  if (n.mla) out['attn.kv_b'] = stored(n.mla.kvB);
  if (n.shared && spec.sharedExpert) {
    const label = `${n.shared.gate} + ${n.shared.up} (gate_up [${2 * spec.sharedExpert.ffnSize}, ${spec.hiddenSize}])`;
    out['shared.gate_up'] = stored(n.shared.gate, label, [n.shared.gate, n.shared.up]);
    out['shared.down'] = stored(n.shared.down);
  }
  return out;
}

/**
 * What in `spec` the GPU kernels cannot run (null: nothing), checked before any byte is uploaded so that such a model
 * fails at once naming its setting, not minutes later inside a kernel's recording.
 */
export function unsupportedOnGpu(spec: MoeModelSpec): string | null {
  if (spec.mla && spec.mla.vDim > spec.headDim) return `v_head_dim ${spec.mla.vDim} wider than the q/k head (${spec.headDim}) is not supported on the GPU`;
  if (spec.headDim > MAX_HEAD_DIM) return `a head dimension of ${spec.headDim} is above the ${MAX_HEAD_DIM} the GPU attention supports`;
  if (spec.topK > MAX_TOP_K) return `num_experts_per_tok ${spec.topK} is above the ${MAX_TOP_K} experts per token the GPU routing supports`;
  if (spec.routing.kind === 'grouped-topk' && spec.routing.groups > MAX_GROUPS) {
    return `n_group ${spec.routing.groups} is above the ${MAX_GROUPS} expert groups the GPU routing supports`;
  }
  return null;
}

/** The embedding, final norm and LM head tensors: what a streamed model keeps on the GPU. */
function residentTensors(checkpoint: Checkpoint): string[] {
  const { names } = checkpoint;
  const out = [names.embedding, names.finalNorm.weight, names.finalNorm.bias, names.lmHead?.weight ?? null, names.lmHead?.bias ?? null];
  return out.filter((name): name is string => name !== null);
}

/** Every tensor decoder layer `n` reads (progress totals, streamed bytes). */
function layerTensors(n: LayerNames): string[] {
  const out: (string | null)[] = [n.inputNorm.weight, n.inputNorm.bias, n.postAttentionNorm.weight, n.postAttentionNorm.bias];
  for (const lin of [n.q, n.k, n.v, n.o]) if (lin) out.push(lin.weight, lin.bias);
  out.push(n.qNorm, n.kNorm, n.router, n.sharedGate, n.correctionBias);
  if (n.mla) out.push(n.mla.qA?.weight ?? null, n.mla.qA?.bias ?? null, n.mla.qANorm, n.mla.qB, n.mla.kvA.weight, n.mla.kvA.bias, n.mla.kvANorm, n.mla.kvB);
  if (n.experts?.layout === 'fused') out.push(n.experts.gateUp, n.experts.down);
  else if (n.experts?.layout === 'gpt-oss') {
    out.push(...gptOssMatrixTensors(n.experts), n.experts.gateUpBias, n.experts.downBias);
  } else if (n.experts) out.push(...n.experts.gate, ...n.experts.up, ...n.experts.down);
  out.push(n.routerBias, n.sinks);
  for (const f of [n.shared, n.dense]) if (f) out.push(f.gate, f.up, f.down);
  return out.filter((name): name is string => name !== null);
}

/**
 * gpt_oss's experts of layer l in the canonical layout and f32, with their biases: MXFP4 blocks + scales go up as
 * stored and moe/mxfp4_decode decodes and de-interleaves them on the GPU (TensorUploader.mxfp4Experts); dense
 * storage (x @ W, interleaved) is brought to the layout on the CPU (readGptOssExperts).
 */
async function uploadGptOssExperts(
  up: TensorUploader,
  checkpoint: Checkpoint,
  layer: number,
): Promise<{ experts: { gateUp: GpuMatrix; down: GpuMatrix }; expertBias: { gateUp: GPUBuffer; down: GPUBuffer } }> {
  const names = checkpoint.names.layers[layer].experts;
  if (names?.layout !== 'gpt-oss') throw new RangeError(`layer ${layer} of ${checkpoint.folder.name} does not hold gpt_oss experts`);
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  const prefix = `model.layers.${layer} experts`;
  const put = async (label: string, values: Float32Array, stored: string[]) => {
    const buffer = await up.allocate(label, values.byteLength);
    up.ctx.write(buffer, values);
    for (const name of stored) up.progress(name, checkpoint.tensors.get(name)!.info.byteLength);
    return buffer;
  };
  const bias = await readGptOssBiases(checkpoint, layer);
  const expertBias = {
    gateUp: await put(`${prefix} gate_up bias`, bias.gateUpBias, [names.gateUpBias]),
    down: await put(`${prefix} down bias`, bias.downBias, [names.downBias]),
  };
  if (names.format === 'mxfp4') {
    const matrix = (base: string, label: string, rows: number, cols: number) =>
      up.mxfp4Experts(mxfp4Names(base), { experts: E, rows, cols, interleaved: base === names.gateUp }, `${prefix} ${label}`);
    return { experts: { gateUp: await matrix(names.gateUp, 'gate_up', 2 * I, H), down: await matrix(names.down, 'down', H, I) }, expertBias };
  }
  const c = await readGptOssExperts(checkpoint, layer);
  const gateUp = await put(`${prefix} gate_up [${E}, ${2 * I}, ${H}]`, c.gateUp, [names.gateUp]);
  const down = await put(`${prefix} down [${E}, ${H}, ${I}]`, c.down, [names.down]);
  return {
    experts: {
      gateUp: { buffer: gateUp, dtype: 'f32', mask: null, name: `${prefix} gate_up`, elements: E * 2 * I * H },
      down: { buffer: down, dtype: 'f32', mask: null, name: `${prefix} down`, elements: E * H * I },
    },
    expertBias,
  };
}

/** Layer l's routed experts into gate_up [E, 2I, H] and down [E, H, I], one expert matrix at a time. */
async function uploadExperts(up: TensorUploader, checkpoint: Checkpoint, layer: number): Promise<{ gateUp: GpuMatrix; down: GpuMatrix }> {
  const plan = planCanonicalExperts(checkpoint, layer);
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  const first = plan.copies[0].tensor.info.name;
  const dtype = weightDtypeOf(checkpoint, first, plan.dtype);
  const prefix = `model.layers.${layer} experts`;
  const gateUp = await up.allocate(`${prefix} gate_up [${E}, ${2 * I}, ${H}]`, plan.gateUpBytes);
  const down = await up.allocate(`${prefix} down [${E}, ${H}, ${I}]`, plan.downBytes);
  const writers = { gateUp: new SequentialWriter(up.ctx, gateUp), down: new SequentialWriter(up.ctx, down) };
  for (const copy of plan.copies) {
    const writer = writers[copy.target];
    // The plan lists each target's pieces front to back; the writer relies on it.
    if (writer.offset !== copy.targetOffset) throw new Error(`expert upload: ${copy.tensor.info.name} is out of order`);
    writer.append(await readExpertCopy(copy));
    // A fused tensor is read in E pieces: count it once, when its last piece is in.
    const whole = copy.sourceOffset + copy.byteLength === copy.tensor.info.byteLength;
    up.progress(copy.tensor.info.name, copy.byteLength, whole ? 1 : 0);
  }
  writers.gateUp.finish();
  writers.down.finish();
  return {
    gateUp: { buffer: gateUp, dtype, name: `${prefix} gate_up`, elements: E * 2 * I * H },
    down: { buffer: down, dtype, name: `${prefix} down`, elements: E * H * I },
  };
}
