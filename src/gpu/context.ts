/**
 * The one owner of a GPUDevice. Same code in the browser (navigator.gpu) and in Node (Dawn, see node.ts):
 * device setup with explicit limits, typed errors for loss / out-of-memory / bad shaders, a pipeline cache,
 * buffer helpers with error scopes around allocation, and readback.
 */
import type { GpuCapabilities } from '../api/gpu-capabilities.ts';
import { describeCapabilities, forDevice, requestedFeatures, requestedLimits } from './capabilities.ts';
import { beyondLimits, deviceLost, GpuError, outOfMemory, unavailable } from './errors.ts';
import { GpuMemory, gpuMemoryBudget } from './memory.ts';
import type { Kernel } from './kernel.ts';
import { Recorder } from './recorder.ts';

export type OverrideConstants = Record<string, number | boolean>;

export interface GpuContextOptions {
  powerPreference?: GPUPowerPreference;
  label?: string;
  /** The forward's matrix kernels: 'subgroup' where the adapter allows (the default), or 'tile' always (tests of the fallback). */
  matrixKernels?: MatrixKernels;
}

/**
 * Which matrix kernels the forward runs (nn/matmul, moe/expert_gate_up, moe/expert_down): 'subgroup' (the
 * *_subgroup.wgsl kernels: subgroup broadcasts, no workgroup memory; bench/README measures them on lavapipe) needs
 * the `subgroups` feature with subgroups of at least 4 invocations (they broadcast 8 lanes, or 4: SwiftShader);
 * 'tile' (workgroup-memory tiles, shaders/nn/gemm_tile.wgsl) runs everywhere, also without subgroups.
 */
export type MatrixKernels = 'subgroup' | 'tile';

/** The subgroup matrix kernels' steps along k: lanes 0 .. step - 1 load A and broadcast it (nn/gemm_subgroup.wgsl's SG_STEP). */
export const MATRIX_SUBGROUP_STEPS = [8, 4] as const;

/**
 * Chosen once per device: 'subgroup' with the largest step the device's smallest subgroup holds, when it has the
 * feature and subgroups of 4 or more; else 'tile' (step 0).
 */
export function chooseMatrixKernels(adapter: GPUAdapter, device: GPUDevice, software: boolean, wanted: MatrixKernels = 'subgroup'): MatrixChoice {
  const min = (adapter as GPUAdapter & { info?: { subgroupMinSize?: number } }).info?.subgroupMinSize ?? 0;
  const step = MATRIX_SUBGROUP_STEPS.find((s) => s <= min) ?? 0;
  const attentionTileKeys = forDevice(ATTENTION_TILE_KEYS, software);
  if (wanted !== 'subgroup' || !device.features.has('subgroups') || step === 0) return { kind: 'tile', step: 0, attention: false, attentionTileKeys };
  // nn/attention_subgroup is one subgroup of 8 lanes per workgroup: right for a CPU driver's SIMD, a waste of a
  // GPU's 32- or 64-wide subgroups (whose one-query-per-thread nn/attention fills them).
  return { kind: 'subgroup', step, attention: step === 8 && software, attentionTileKeys };
}

/**
 * Keys per key/value tile of nn/attention (its workgroup memory is this many keys x D floats, at most KV_TILE_MAX).
 * SwiftShader compiles a kernel in time proportional to its workgroup memory: nn/attention with the full 2 x 8 KiB
 * took 3.0 s to compile there, every time a page starts (the e2e tier starts 26), 0.5 s with 2 x 1 KiB (8 keys of 32
 * floats); lavapipe compiles either in 0.2 s (bench/README.md). A GPU keeps the larger tiles: fewer barriers.
 */
export const ATTENTION_TILE_KEYS = { gpu: 32, software: 8 } as const;

/** The forward's kernel choices on a device, made once at setup (chooseMatrixKernels). */
export interface MatrixChoice {
  kind: MatrixKernels;
  /** Lanes per step along k of the subgroup matrix kernels (0: tile kernels). */
  step: number;
  /** Whether attention runs nn/attention_subgroup. */
  attention: boolean;
  /** Keys per key/value tile of nn/attention (ATTENTION_TILE_KEYS). */
  attentionTileKeys: number;
}

export class GpuContext {
  /** Set once the device is lost: every later call throws it. */
  lostError: GpuError | null = null;
  /** First error nothing else caught (validation inside a submit, say), thrown at the next check. */
  private uncaptured: GpuError | null = null;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly layouts = new Map<Kernel, GPUBindGroupLayout>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly freeUniformBuffers: GPUBuffer[] = [];
  /** Bytes held on the GPU now and at most, and the budget (src/gpu/memory.ts). */
  readonly memory = new GpuMemory(gpuMemoryBudget());

  private constructor(
    readonly gpu: GPU,
    readonly adapter: GPUAdapter,
    readonly device: GPUDevice,
    readonly caps: GpuCapabilities,
    /** The forward's matrix kernels on this device and their step along k (chooseMatrixKernels, once at setup). */
    readonly matrix: MatrixChoice,
  ) {
    this.memory.track(device);
    void device.lost.then((info) => {
      this.lostError = deviceLost(info.reason, info.message);
    });
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.uncaptured ??= toGpuError(error, 'a GPU command');
    });
  }

  get matrixKernels(): MatrixKernels {
    return this.matrix.kind;
  }

  /** Asks `gpu` for an adapter and a device with the adapter's own limits; throws GpuError('unavailable'). */
  static async create(gpu: GPU | undefined, options: GpuContextOptions = {}): Promise<GpuContext> {
    if (!gpu) throw unavailable('this environment has no navigator.gpu');
    const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
    if (!adapter) throw unavailable('no GPU adapter was found (no supported GPU or driver)');
    let device: GPUDevice;
    try {
      device = await adapter.requestDevice({
        label: options.label ?? 'moe-lab',
        requiredFeatures: requestedFeatures(adapter),
        requiredLimits: requestedLimits(adapter),
      });
    } catch (error) {
      throw unavailable(`the adapter refused a device (${(error as Error).message})`);
    }
    const caps = describeCapabilities(adapter, device);
    return new GpuContext(gpu, adapter, device, caps, chooseMatrixKernels(adapter, device, caps.isSoftware, options.matrixKernels));
  }

  /** Throws the device-lost or first uncaptured error, if any. */
  throwIfFailed(): void {
    if (this.lostError) throw this.lostError;
    if (this.uncaptured) {
      const error = this.uncaptured;
      this.uncaptured = null;
      throw error;
    }
  }

  /** A compute pipeline for `kernel` with `constants` for its `override`s, built once and cached. */
  pipeline(kernel: Kernel, constants: OverrideConstants = {}): Promise<GPUComputePipeline> {
    for (const name of Object.keys(constants)) {
      if (!kernel.overrides.includes(name)) throw new Error(`${kernel.name}: no override constant named ${name}`);
    }
    const key = `${kernel.name}|${kernel.entryPoint}|${JSON.stringify(Object.entries(constants).sort())}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      pipeline = this.buildPipeline(kernel, constants);
      this.pipelines.set(key, pipeline);
      pipeline.catch(() => this.pipelines.delete(key));
    }
    return pipeline;
  }

  bindGroupLayout(kernel: Kernel): GPUBindGroupLayout {
    let layout = this.layouts.get(kernel);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        label: kernel.name,
        entries: kernel.bindings.map((b) => ({
          binding: b.binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: b.kind },
        })),
      });
      this.layouts.set(kernel, layout);
    }
    return layout;
  }

  private async buildPipeline(kernel: Kernel, constants: OverrideConstants): Promise<GPUComputePipeline> {
    this.throwIfFailed();
    let module = this.modules.get(kernel.name);
    if (!module) {
      this.device.pushErrorScope('validation');
      module = this.device.createShaderModule({ label: kernel.name, code: kernel.source });
      const info = await module.getCompilationInfo();
      const scopeError = await this.device.popErrorScope();
      const errors = info.messages.filter((m) => m.type === 'error');
      if (errors.length || scopeError) {
        const detail = errors.map((m) => `${kernel.name}.wgsl:${m.lineNum}:${m.linePos} ${m.message}`).join('\n');
        throw new GpuError('shader', `The shader ${kernel.name} failed to compile:\n${detail || scopeError?.message}`);
      }
      this.modules.set(kernel.name, module);
    }
    const numeric: Record<string, number> = {};
    for (const [name, value] of Object.entries(constants)) numeric[name] = Number(value);
    try {
      return await this.device.createComputePipelineAsync({
        label: kernel.name,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.bindGroupLayout(kernel)] }),
        compute: { module, entryPoint: kernel.entryPoint, constants: numeric },
      });
    } catch (error) {
      throw new GpuError('shader', `The pipeline ${kernel.name} could not be built: ${(error as Error).message}`);
    }
  }

  private checkSize(label: string, size: number, usage: GPUBufferUsageFlags): void {
    const limits = this.caps.limits;
    if (size > limits.maxBufferSize) throw beyondLimits(label, size, limits.maxBufferSize, 'maxBufferSize');
    if (usage & GPUBufferUsage.STORAGE && size > limits.maxStorageBufferBindingSize) {
      throw beyondLimits(label, size, limits.maxStorageBufferBindingSize, 'maxStorageBufferBindingSize');
    }
  }

  /** A buffer for scratch work; sizes are rounded up to 4 bytes. Limits are checked, memory errors surface later. */
  createBuffer(label: string, size: number, usage: GPUBufferUsageFlags = STORAGE_RW): GPUBuffer {
    this.throwIfFailed();
    const bytes = Math.max(4, Math.ceil(size / 4) * 4);
    this.checkSize(label, bytes, usage);
    return this.device.createBuffer({ label, size: bytes, usage });
  }

  /** A buffer allocated inside error scopes: out-of-memory comes back as a typed error right away. */
  async allocate(label: string, size: number, usage: GPUBufferUsageFlags = STORAGE_RW): Promise<GPUBuffer> {
    this.throwIfFailed();
    const bytes = Math.max(4, Math.ceil(size / 4) * 4);
    this.checkSize(label, bytes, usage);
    // Over the budget: refused before the error scopes open (the device's createBuffer would throw inside them).
    this.memory.check(label, bytes);
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
    const buffer = this.device.createBuffer({ label, size: bytes, usage });
    const validation = await this.device.popErrorScope();
    const memory = await this.device.popErrorScope();
    if (memory) {
      buffer.destroy();
      throw outOfMemory(label, bytes);
    }
    if (validation) {
      buffer.destroy();
      throw toGpuError(validation, label);
    }
    return buffer;
  }

  /** Allocates (with error scopes) and fills a storage buffer from `data`. */
  async upload(label: string, data: ArrayBufferView, usage: GPUBufferUsageFlags = STORAGE_RW): Promise<GPUBuffer> {
    const buffer = await this.allocate(label, data.byteLength, usage);
    this.write(buffer, data);
    return buffer;
  }

  /** queue.writeBuffer for any typed array; pads the tail to 4 bytes as WebGPU requires. */
  write(buffer: GPUBuffer, data: ArrayBufferView, byteOffset = 0): void {
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, byteOffset, bytes);
    } else {
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, byteOffset, padded);
    }
  }

  /** Copies `size` bytes of `buffer` back to the CPU (waits for all submitted work). */
  async read(buffer: GPUBuffer, byteOffset = 0, size = buffer.size - byteOffset): Promise<ArrayBuffer> {
    this.throwIfFailed();
    const staging = this.device.createBuffer({
      label: `readback ${buffer.label}`,
      size: Math.ceil(size / 4) * 4,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(buffer, byteOffset, staging, 0, staging.size);
      this.device.queue.submit([encoder.finish()]);
      try {
        await staging.mapAsync(GPUMapMode.READ);
      } catch (error) {
        this.throwIfFailed();
        throw toGpuError(error, `reading back ${buffer.label}`);
      }
      this.throwIfFailed();
      return staging.getMappedRange().slice(0, size);
    } finally {
      staging.destroy();
    }
  }

  async readF32(buffer: GPUBuffer, byteOffset = 0, size?: number): Promise<Float32Array> {
    return new Float32Array(await this.read(buffer, byteOffset, size));
  }

  async readU32(buffer: GPUBuffer, byteOffset = 0, size?: number): Promise<Uint32Array> {
    return new Uint32Array(await this.read(buffer, byteOffset, size));
  }

  /** Starts recording a batch of dispatches and copies, submitted together by `submit()`. */
  record(label = 'batch'): Recorder {
    return new Recorder(this, label);
  }

  /** Resolves when all work submitted so far has run on the GPU. */
  async idle(): Promise<void> {
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  /** Uniform buffers are pooled: each submit takes one and gives it back when its work is done. */
  takeUniformBuffer(size: number): GPUBuffer {
    const index = this.freeUniformBuffers.findIndex((b) => b.size >= size);
    if (index >= 0) return this.freeUniformBuffers.splice(index, 1)[0];
    const bytes = Math.max(4096, 2 ** Math.ceil(Math.log2(size)));
    return this.device.createBuffer({ label: 'params', size: bytes, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  }

  giveBackUniformBuffer(buffer: GPUBuffer): void {
    if (this.freeUniformBuffers.length < 16) this.freeUniformBuffers.push(buffer);
    else buffer.destroy();
  }

  destroy(): void {
    for (const b of this.freeUniformBuffers) b.destroy();
    this.freeUniformBuffers.length = 0;
    this.device.destroy();
  }
}

/** STORAGE | COPY_SRC | COPY_DST: what nearly every engine buffer is. */
export const STORAGE_RW = 0x80 | 0x04 | 0x08;

export function toGpuError(error: unknown, what: string): GpuError {
  if (error instanceof GpuError) return error;
  const message = (error as { message?: string })?.message ?? String(error);
  const ctor = (error as { constructor?: { name?: string } })?.constructor?.name ?? '';
  if (ctor === 'GPUOutOfMemoryError' || /out of memory/i.test(message)) return outOfMemory(what, 0);
  return new GpuError('validation', `WebGPU rejected ${what}: ${message}`, message);
}
