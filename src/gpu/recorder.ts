/**
 * Records dispatches and copies, then encodes and submits them at once. Encoding is deferred so that all
 * parameter blocks of a batch go to the GPU in one writeBuffer and pipelines (built asynchronously, cached) are
 * ready before encoding starts.
 */
import type { GpuContext, MatrixKernels, OverrideConstants } from './context.ts';
import { beyondLimits } from './errors.ts';
import type { Kernel } from './kernel.ts';
import { writeUniforms, type UniformValues } from './uniforms.ts';

export type BufferBinding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

export interface DispatchOptions {
  /** Storage buffers by their WGSL variable name; every storage binding of the kernel must be given. */
  bindings: Record<string, BufferBinding>;
  /** Values of the kernel's `params` struct, by field name. */
  params?: UniformValues;
  constants?: OverrideConstants;
  /** Workgroup counts [x, y, z]. */
  workgroups: readonly number[];
  label?: string;
}

type Step =
  | { kind: 'dispatch'; kernel: Kernel; options: DispatchOptions; paramsOffset: number }
  | { kind: 'copy'; src: GPUBuffer; srcOffset: number; dst: GPUBuffer; dstOffset: number; size: number }
  | { kind: 'clear'; buffer: GPUBuffer; offset: number; size?: number };

export class Recorder {
  private readonly steps: Step[] = [];
  private paramsBytes = 0;

  constructor(
    private readonly ctx: GpuContext,
    private readonly label: string,
  ) {}

  /** The device's matrix kernels (GpuContext.matrixKernels): the matrix hosts dispatch the subgroup or the tile kernel. */
  get matrixKernels(): MatrixKernels {
    return this.ctx.matrixKernels;
  }

  /** Whether attention runs nn/attention_subgroup on this device (GpuContext.matrix.attention). */
  get subgroupAttention(): boolean {
    return this.ctx.matrix.attention;
  }

  /** Keys per key/value tile of nn/attention on this device (GpuContext.matrix). */
  get attentionTileKeys(): number {
    return this.ctx.matrix.attentionTileKeys;
  }

  /** Whether the device is a CPU driver (lavapipe, SwiftShader): hosts whose best shape differs there ask. */
  get softwareAdapter(): boolean {
    return this.ctx.caps.isSoftware;
  }

  /** Lanes per step along k of the subgroup matrix kernels on this device (GpuContext.matrix). */
  get subgroupStep(): number {
    return this.ctx.matrix.step;
  }

  get length(): number {
    return this.steps.length;
  }

  dispatch(kernel: Kernel, options: DispatchOptions): this {
    const max = this.ctx.caps.limits.maxComputeWorkgroupsPerDimension;
    const [x, y = 1, z = 1] = options.workgroups;
    for (const n of [x, y, z]) {
      if (!Number.isInteger(n) || n < 0) throw new Error(`${kernel.name}: bad workgroup count ${options.workgroups}`);
      if (n > max) throw beyondLimits(`${kernel.name} (workgroups)`, n, max, 'maxComputeWorkgroupsPerDimension');
    }
    for (const b of kernel.bindings) {
      if (b.kind !== 'uniform' && !(b.name in options.bindings)) {
        throw new Error(`${kernel.name}: binding '${b.name}' was not given`);
      }
    }
    for (const name of Object.keys(options.bindings)) {
      if (!kernel.bindings.some((b) => b.name === name && b.kind !== 'uniform')) {
        throw new Error(`${kernel.name}: has no storage binding named '${name}'`);
      }
    }
    let paramsOffset = -1;
    if (kernel.params) {
      if (!options.params) throw new Error(`${kernel.name}: params were not given`);
      const align = this.ctx.caps.limits.minUniformBufferOffsetAlignment;
      paramsOffset = Math.ceil(this.paramsBytes / align) * align;
      this.paramsBytes = paramsOffset + kernel.params.size;
    }
    this.steps.push({ kind: 'dispatch', kernel, options, paramsOffset });
    return this;
  }

  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): this {
    this.steps.push({ kind: 'copy', src, srcOffset, dst, dstOffset, size });
    return this;
  }

  clear(buffer: GPUBuffer, offset = 0, size?: number): this {
    this.steps.push({ kind: 'clear', buffer, offset, size });
    return this;
  }

  /** Encodes everything recorded, in order, and submits it. Resolves once submitted (not once executed). */
  async submit(): Promise<void> {
    const ctx = this.ctx;
    ctx.throwIfFailed();
    const dispatches = this.steps.filter((s): s is Extract<Step, { kind: 'dispatch' }> => s.kind === 'dispatch');
    const pipelines = await Promise.all(dispatches.map((s) => ctx.pipeline(s.kernel, s.options.constants)));
    let uniformBuffer: GPUBuffer | null = null;
    if (this.paramsBytes > 0) {
      const staging = new ArrayBuffer(Math.ceil(this.paramsBytes / 4) * 4);
      for (const s of dispatches) {
        if (s.kernel.params) writeUniforms(s.kernel.params, s.options.params ?? {}, staging, s.paramsOffset);
      }
      uniformBuffer = ctx.takeUniformBuffer(staging.byteLength);
      ctx.device.queue.writeBuffer(uniformBuffer, 0, staging);
    }
    const encoder = ctx.device.createCommandEncoder({ label: this.label });
    let pass: GPUComputePassEncoder | null = null;
    let dispatchIndex = 0;
    for (const step of this.steps) {
      if (step.kind === 'dispatch') {
        pass ??= encoder.beginComputePass({ label: this.label });
        const { kernel, options } = step;
        const entries: GPUBindGroupEntry[] = kernel.bindings.map((b) => {
          if (b.kind === 'uniform') {
            return { binding: b.binding, resource: { buffer: uniformBuffer!, offset: step.paramsOffset, size: kernel.params!.size } };
          }
          const given = options.bindings[b.name];
          const resource = 'buffer' in given ? given : { buffer: given };
          return { binding: b.binding, resource };
        });
        pass.setPipeline(pipelines[dispatchIndex++]);
        pass.setBindGroup(0, ctx.device.createBindGroup({ label: options.label ?? kernel.name, layout: ctx.bindGroupLayout(kernel), entries }));
        const [x, y = 1, z = 1] = options.workgroups;
        if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
      } else {
        pass?.end();
        pass = null;
        if (step.kind === 'copy') encoder.copyBufferToBuffer(step.src, step.srcOffset, step.dst, step.dstOffset, step.size);
        else encoder.clearBuffer(step.buffer, step.offset, step.size);
      }
    }
    pass?.end();
    ctx.device.queue.submit([encoder.finish()]);
    this.steps.length = 0;
    this.paramsBytes = 0;
    if (uniformBuffer) {
      const buffer = uniformBuffer;
      void ctx.device.queue.onSubmittedWorkDone().then(() => ctx.giveBackUniformBuffer(buffer));
    }
  }
}
