/**
 * GpuModel: a checkpoint's weights on the GPU in the engine's canonical layout, whatever the stored names and
 * layout were (docs/forward.md): per MoE layer the routed experts stacked as gate_up [E, 2I, H] (each expert's I
 * gate rows, then its I up rows) and down [E, H, I]; attention, router, shared-expert and LM-head matrices as
 * stored ([out, in]); all matrices in the checkpoint dtype (f16/bf16 packed two per u32), norms and biases f32.
 * Upload is tensor by tensor (one tensor in memory at a time) with a progress callback.
 */
import { planCanonicalExperts, readExpertCopy, readGptOssExperts } from '../../engine/model/expert-layout.ts';
import type { Checkpoint } from '../../engine/model/checkpoint.ts';
import { ModelFileError } from '../../engine/errors.ts';
import type { MoeModelSpec } from '../../engine/model/spec.ts';
import { gptOssMatrixTensors, type FfnNames, type LinearNames, type NormNames } from '../../engine/model/weights.ts';
import type { GpuContext } from '../context.ts';
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
}

export class GpuModel {
  private constructor(
    readonly ctx: GpuContext,
    readonly spec: MoeModelSpec,
    readonly embedding: GpuMatrix, // [V, H]
    readonly finalNorm: GpuNorm,
    readonly lmHead: GpuLinear, // [V, H]; the embedding itself when tied
    readonly layers: GpuLayer[],
    /** [E] u32 of ones: the "expert enabled" vector when no expert is dropped. */
    readonly allExpertsEnabled: GPUBuffer,
    /** Bytes of weights read from the checkpoint. */
    readonly bytes: number,
    private readonly buffers: GPUBuffer[],
  ) {}

  /** Uploads every weight of `checkpoint`; on failure, frees what was already allocated. */
  static async upload(ctx: GpuContext, checkpoint: Checkpoint, options: UploadOptions = {}): Promise<GpuModel> {
    const { names, spec } = checkpoint;
    if (spec.mla && spec.mla.vDim > spec.headDim) {
      throw new ModelFileError(
        checkpoint.folder.name,
        'unsupported',
        `v_head_dim ${spec.mla.vDim} wider than the q/k head (${spec.headDim}) is not supported on the GPU`,
      );
    }
    const tensors = listTensors(checkpoint);
    const totalBytes = tensors.reduce((sum, name) => sum + checkpoint.tensors.get(name)!.info.byteLength, 0);
    const up = new TensorUploader(ctx, checkpoint, totalBytes, tensors.length, options.onProgress);
    const checkAbort = () => options.signal?.throwIfAborted();
    try {
      const norm = async (n: NormNames): Promise<GpuNorm> => ({ weight: await up.f32(n.weight), bias: await up.optionalF32(n.bias) });
      const linear = async (n: LinearNames): Promise<GpuLinear> => ({ weight: await up.matrix([n.weight]), bias: await up.optionalF32(n.bias) });
      const ffn = async (n: FfnNames, width: number): Promise<GpuFfn> => ({
        gateUp: await up.matrix([n.gate, n.up], `${n.gate} + ${n.up} (gate_up [${2 * width}, ${spec.hiddenSize}])`),
        down: await up.matrix([n.down]),
        width,
      });
      const embedding = await up.matrix([names.embedding]);
      const layers: GpuLayer[] = [];
      for (const [l, n] of names.layers.entries()) {
        checkAbort();
        layers.push({
          inputNorm: await norm(n.inputNorm),
          postAttentionNorm: await norm(n.postAttentionNorm),
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
        });
      }
      checkAbort();
      const finalNorm = await norm(names.finalNorm);
      const lmHead = names.lmHead ? await linear(names.lmHead) : { weight: embedding, bias: null };
      const allExpertsEnabled = await up.allocate('experts enabled (all)', spec.numExperts * 4);
      ctx.write(allExpertsEnabled, new Uint32Array(spec.numExperts).fill(1));
      return new GpuModel(ctx, spec, embedding, finalNorm, lmHead, layers, allExpertsEnabled, totalBytes, up.buffers);
    } catch (error) {
      up.destroyAll();
      throw error;
    }
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}

/** Every tensor the model reads, for progress totals. */
function listTensors(checkpoint: Checkpoint): string[] {
  const { names } = checkpoint;
  const out: (string | null)[] = [names.embedding, names.finalNorm.weight, names.finalNorm.bias, names.lmHead?.weight ?? null, names.lmHead?.bias ?? null];
  for (const n of names.layers) {
    out.push(n.inputNorm.weight, n.inputNorm.bias, n.postAttentionNorm.weight, n.postAttentionNorm.bias);
    for (const lin of [n.q, n.k, n.v, n.o]) if (lin) out.push(lin.weight, lin.bias);
    out.push(n.qNorm, n.kNorm, n.router, n.sharedGate, n.correctionBias);
    if (n.mla) out.push(n.mla.qA?.weight ?? null, n.mla.qA?.bias ?? null, n.mla.qANorm, n.mla.qB, n.mla.kvA.weight, n.mla.kvA.bias, n.mla.kvANorm, n.mla.kvB);
    if (n.experts?.layout === 'fused') out.push(n.experts.gateUp, n.experts.down);
    else if (n.experts?.layout === 'gpt-oss') {
      out.push(...gptOssMatrixTensors(n.experts), n.experts.gateUpBias, n.experts.downBias);
    } else if (n.experts) out.push(...n.experts.gate, ...n.experts.up, ...n.experts.down);
    out.push(n.routerBias, n.sinks);
    for (const f of [n.shared, n.dense]) if (f) out.push(f.gate, f.up, f.down);
  }
  return out.filter((name): name is string => name !== null);
}

/**
 * gpt_oss's experts of layer l, brought to the canonical layout and f32 on the CPU (readGptOssExperts: interleaved
 * x @ W de-interleaved and transposed, MXFP4 decoded), with their biases.
 */
async function uploadGptOssExperts(
  up: TensorUploader,
  checkpoint: Checkpoint,
  layer: number,
): Promise<{ experts: { gateUp: GpuMatrix; down: GpuMatrix }; expertBias: { gateUp: GPUBuffer; down: GPUBuffer } }> {
  const c = await readGptOssExperts(checkpoint, layer);
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  const prefix = `model.layers.${layer} experts`;
  const put = async (label: string, values: Float32Array) => {
    const buffer = await up.allocate(label, values.byteLength);
    up.ctx.write(buffer, values);
    return buffer;
  };
  const gateUp = await put(`${prefix} gate_up [${E}, ${2 * I}, ${H}]`, c.gateUp);
  const down = await put(`${prefix} down [${E}, ${H}, ${I}]`, c.down);
  const expertBias = { gateUp: await put(`${prefix} gate_up bias`, c.gateUpBias), down: await put(`${prefix} down bias`, c.downBias) };
  const names = checkpoint.names.layers[layer].experts;
  const stored = names?.layout === 'gpt-oss' ? [...gptOssMatrixTensors(names), names.gateUpBias, names.downBias] : [];
  for (const name of stored) up.progress(name, checkpoint.tensors.get(name)!.info.byteLength);
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
