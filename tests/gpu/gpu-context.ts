/**
 * One GpuContext per test file, on whatever Vulkan driver Dawn finds. The gpu tier never skips: without an
 * adapter every test fails with the reason (see scripts/with-vulkan.sh for how the driver is chosen).
 */
import { afterAll } from 'vitest';
import type { GpuContext, MatrixKernels } from '../../src/gpu/context.ts';
import { createNodeGpuContext } from '../../src/gpu/node.ts';

let context: Promise<GpuContext> | null = null;

export function gpu(): Promise<GpuContext> {
  if (!context) {
    context = createNodeGpuContext({ label: 'gpu-tier' });
    afterAll(async () => {
      const ctx = await context!.catch(() => null);
      ctx?.destroy();
      context = null;
    });
  }
  return context;
}

let tileContext: Promise<GpuContext> | null = null;

/**
 * The context of the file for matrix kernels `kind`: gpu() for 'subgroup' (its kernels where the device has
 * subgroups), or a second context forced to the workgroup-tile fallback for 'tile' (GpuContextOptions.matrixKernels).
 */
export function gpuWithMatrixKernels(kind: MatrixKernels): Promise<GpuContext> {
  if (kind === 'subgroup') return gpu();
  if (!tileContext) {
    tileContext = createNodeGpuContext({ label: 'gpu-tier tile kernels', matrixKernels: 'tile' });
    afterAll(async () => {
      const ctx = await tileContext!.catch(() => null);
      ctx?.destroy();
      tileContext = null;
    });
  }
  return tileContext;
}

/** Runs `body` inside validation and out-of-memory error scopes and fails the test on any error (docs/style.md). */
export async function withinErrorScopes<T>(ctx: GpuContext, body: () => Promise<T>): Promise<T> {
  ctx.device.pushErrorScope('out-of-memory');
  ctx.device.pushErrorScope('validation');
  const result = await body();
  const validation = await ctx.device.popErrorScope();
  const memory = await ctx.device.popErrorScope();
  if (validation) throw new Error(`WebGPU validation error: ${validation.message}`);
  if (memory) throw new Error(`WebGPU out-of-memory error: ${memory.message}`);
  ctx.throwIfFailed();
  return result;
}
