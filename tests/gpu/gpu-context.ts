/**
 * One GpuContext per test file, on whatever Vulkan driver Dawn finds. The gpu tier never skips: without an
 * adapter every test fails with the reason (see scripts/with-vulkan.sh for how the driver is chosen).
 */
import { afterAll } from 'vitest';
import type { GpuContext } from '../../src/gpu/context.ts';
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
