/**
 * Moving checkpoint tensors onto the GPU one at a time: matrices stay in their stored dtype (f16/bf16 packed
 * two per u32, exactly the file's bytes), norms and biases are widened to f32. Every buffer is allocated inside
 * error scopes and checked against maxStorageBufferBindingSize, so a tensor too large for one binding fails with
 * GpuError('limits') naming it rather than as a lost device later.
 */
import { ModelFileError } from '../../engine/errors.ts';
import { bytesToFloat32, DTYPE_BYTES, type Dtype } from '../../engine/io/safetensors.ts';
import { readTensorRaw, tensorInfo, type Checkpoint } from '../../engine/model/checkpoint.ts';
import type { WeightDtype } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import { recordMxfp4Decode } from '../kernels/moe/mxfp4_decode.ts';
import type { WeightOperand } from '../kernels/nn/matmul.ts';
import { Recorder } from '../recorder.ts';

/** A weight matrix on the GPU: its buffer, stored dtype and the checkpoint tensor(s) it came from. */
export interface GpuMatrix extends WeightOperand {
  name: string;
  /** Elements (for mask sizes): rows * columns of the canonical matrix. */
  elements: number;
}

export interface UploadProgress {
  /** The tensor just uploaded (or the group of tensors, for stacked experts). */
  tensor: string;
  doneBytes: number;
  totalBytes: number;
  doneTensors: number;
  totalTensors: number;
}

const WEIGHT_DTYPE: Partial<Record<Dtype, WeightDtype>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** The engine dtype of a stored tensor; integer tensors cannot be weights. */
export function weightDtypeOf(checkpoint: Checkpoint, name: string, dtype: Dtype): WeightDtype {
  const found = WEIGHT_DTYPE[dtype];
  if (!found) throw new ModelFileError(checkpoint.folder.name, 'bad-dtype', `tensor ${name} is ${dtype}; weights must be F32, F16 or BF16`);
  return found;
}

/**
 * Writes a buffer front to back from pieces of any byte length: WebGPU's writeBuffer needs 4-byte aligned
 * offsets and sizes, and a packed f16 matrix of odd size ends mid-word, so up to 3 bytes wait for the next piece.
 */
export class SequentialWriter {
  private written = 0;
  private readonly pending = new Uint8Array(4);
  private pendingBytes = 0;

  constructor(
    private readonly ctx: GpuContext,
    readonly buffer: GPUBuffer,
  ) {}

  /** Bytes appended so far. */
  get offset(): number {
    return this.written + this.pendingBytes;
  }

  append(bytes: Uint8Array): void {
    let from = 0;
    if (this.pendingBytes > 0) {
      const take = Math.min(4 - this.pendingBytes, bytes.byteLength);
      this.pending.set(bytes.subarray(0, take), this.pendingBytes);
      this.pendingBytes += take;
      from = take;
      if (this.pendingBytes < 4) return;
      this.ctx.device.queue.writeBuffer(this.buffer, this.written, this.pending);
      this.written += 4;
      this.pendingBytes = 0;
    }
    const aligned = Math.floor((bytes.byteLength - from) / 4) * 4;
    if (aligned > 0) {
      // writeBuffer wants the source offset aligned too: copy when the view is not.
      const body = bytes.subarray(from, from + aligned);
      this.ctx.write(this.buffer, body.byteOffset % 4 === 0 ? body : body.slice(), this.written);
      this.written += aligned;
    }
    const rest = bytes.byteLength - from - aligned;
    this.pending.set(bytes.subarray(bytes.byteLength - rest), 0);
    this.pendingBytes = rest;
  }

  /** Writes the last partial word, zero-padded. */
  finish(): void {
    if (this.pendingBytes === 0) return;
    this.pending.fill(0, this.pendingBytes);
    this.ctx.device.queue.writeBuffer(this.buffer, this.written, this.pending);
    this.written += 4;
    this.pendingBytes = 0;
  }
}

/** Uploads tensors of one checkpoint and counts progress. */
export class TensorUploader {
  doneBytes = 0;
  doneTensors = 0;
  readonly buffers: GPUBuffer[] = [];

  constructor(
    readonly ctx: GpuContext,
    /** Where tensors are read from: the model's checkpoint, or a view with a layer's tensors in memory while it uploads. */
    public checkpoint: Checkpoint,
    readonly totalBytes: number,
    readonly totalTensors: number,
    private readonly onProgress?: (progress: UploadProgress) => void,
  ) {}

  /** Records progress after `tensors` tensors of `bytes` bytes named `what` went up. */
  progress(what: string, bytes: number, tensors = 1): void {
    this.doneBytes += bytes;
    this.doneTensors += tensors;
    this.onProgress?.({ tensor: what, doneBytes: this.doneBytes, totalBytes: this.totalBytes, doneTensors: this.doneTensors, totalTensors: this.totalTensors });
  }

  /** A storage buffer of `bytes` named after the tensor(s) it will hold (checked against the binding limit). */
  async allocate(label: string, bytes: number): Promise<GPUBuffer> {
    const buffer = await this.ctx.allocate(label, bytes);
    this.buffers.push(buffer);
    return buffer;
  }

  /** A norm weight or bias, widened to f32. */
  async f32(name: string): Promise<GPUBuffer> {
    const { info, bytes } = await readTensorRaw(this.checkpoint, name);
    const values = bytesToFloat32(info, bytes);
    const buffer = await this.allocate(name, values.byteLength);
    this.ctx.write(buffer, values);
    this.progress(name, info.byteLength);
    return buffer;
  }

  async optionalF32(name: string | null): Promise<GPUBuffer | null> {
    return name ? this.f32(name) : null;
  }

  /** One or more tensors of the same dtype stacked row-wise into one matrix buffer, in their stored dtype. */
  async matrix(names: string[], label = names[0]): Promise<GpuMatrix> {
    const infos = names.map((name) => tensorInfo(this.checkpoint, name));
    const dtype = weightDtypeOf(this.checkpoint, names[0], infos[0].dtype);
    infos.forEach((info, i) => {
      if (info.dtype !== infos[0].dtype) {
        throw new ModelFileError(
          this.checkpoint.folder.name,
          'bad-dtype',
          `tensor ${names[i]} is ${info.dtype} but ${names[0]} is ${infos[0].dtype}; they form one matrix`,
        );
      }
    });
    const bytes = infos.reduce((sum, info) => sum + info.byteLength, 0);
    const buffer = await this.allocate(label, bytes);
    const writer = new SequentialWriter(this.ctx, buffer);
    for (const name of names) {
      const { info, bytes: data } = await readTensorRaw(this.checkpoint, name);
      writer.append(data);
      this.progress(name, info.byteLength);
    }
    writer.finish();
    return { buffer, dtype, name: label, elements: bytes / DTYPE_BYTES[infos[0].dtype] };
  }

  /**
   * A gpt-oss MXFP4 expert matrix (`blocks` [E, R, C/32, 16] + `scales` [E, R, C/32], the checkpoint's bytes)
   * decoded on the GPU (moe/mxfp4_decode) into the canonical f32 matrix [E, R, C], gate_up de-interleaved when
   * `interleaved`. The packed bytes are on the GPU only while the decode runs; the model keeps the f32 matrix.
   */
  async mxfp4Experts(
    tensors: { blocks: string; scales: string },
    shape: { experts: number; rows: number; cols: number; interleaved: boolean },
    label: string,
  ): Promise<GpuMatrix> {
    const { experts: E, rows: R, cols: C } = shape;
    const packed: GPUBuffer[] = [];
    try {
      for (const name of [tensors.blocks, tensors.scales]) {
        const { info, bytes } = await readTensorRaw(this.checkpoint, name);
        packed.push(await this.ctx.upload(`${name} (MXFP4, until decoded)`, bytes));
        this.progress(name, info.byteLength);
      }
      const decoded = await this.allocate(`${label} [${E}, ${R}, ${C}]`, E * R * C * 4);
      const rec = new Recorder(this.ctx, `decode ${label}`);
      recordMxfp4Decode(rec, { blocks: packed[0], scales: packed[1], decoded, ...shape });
      await rec.submit();
      return { buffer: decoded, dtype: 'f32', mask: null, name: label, elements: E * R * C };
    } finally {
      // Destroying after submit is safe: WebGPU frees a buffer only once the work already queued on it is done.
      for (const buffer of packed) buffer.destroy();
    }
  }

  destroyAll(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}
