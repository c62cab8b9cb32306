import { describe, expect, it } from 'vitest';
import { summarizeCapabilities } from '../../src/gpu/capabilities.ts';
import { GpuError } from '../../src/gpu/errors.ts';
import { defineKernel } from '../../src/gpu/kernel.ts';
import { recordResidualAdd, residualAddKernel } from '../../src/gpu/kernels/nn/residual_add.ts';
import { residualAddReference } from '../../src/engine/reference/nn/elementwise.ts';
import { createRng } from '../../src/engine/random.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

describe('GPU runtime', () => {
  it('finds an adapter and reports its limits and features', async () => {
    const ctx = await gpu();
    console.log(`adapter: ${summarizeCapabilities(ctx.caps)}`);
    expect(ctx.caps.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(ctx.caps.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    // The device got the adapter's own maxima, not WebGPU's defaults.
    expect(ctx.device.limits.maxStorageBufferBindingSize).toBe(ctx.adapter.limits.maxStorageBufferBindingSize);
    expect(ctx.device.limits.maxBufferSize).toBe(ctx.adapter.limits.maxBufferSize);
  });

  it('runs a kernel and reads the result back (residual add vs CPU reference)', async () => {
    const ctx = await gpu();
    const rng = createRng(1);
    const count = 70_001; // not a multiple of the workgroup size
    const x = Float32Array.from({ length: count }, () => rng.normal());
    const branch = Float32Array.from({ length: count }, () => rng.normal());
    const got = await withinErrorScopes(ctx, async () => {
      const xb = await ctx.upload('x', x);
      const bb = await ctx.upload('branch', branch);
      const out = ctx.createBuffer('out', count * 4);
      const rec = ctx.record();
      recordResidualAdd(rec, xb, bb, out, count, 0.22);
      await rec.submit();
      const result = await ctx.readF32(out);
      for (const b of [xb, bb, out]) b.destroy();
      return result;
    });
    expectClose(got, residualAddReference(x, branch, 0.22), { atol: 1e-6, rtol: 1e-6, label: 'residual' });
  });

  it('turns a WGSL compile error into a GpuError naming the shader and line', async () => {
    const ctx = await gpu();
    const broken = defineKernel({ name: 'test/broken', source: '@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }' });
    const error = await ctx.pipeline(broken).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GpuError);
    expect((error as GpuError).kind).toBe('shader');
    expect((error as GpuError).message).toMatch(/test\/broken\.wgsl:1:/);
  });

  it('refuses a buffer beyond the adapter limits with a typed error', async () => {
    const ctx = await gpu();
    const tooBig = ctx.caps.limits.maxStorageBufferBindingSize + 1024;
    let error: unknown;
    try {
      ctx.createBuffer('weights', tooBig);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GpuError);
    expect((error as GpuError).kind).toBe('limits');
    expect((error as GpuError).message).toMatch(/maxStorageBufferBindingSize/);
  });

  it('rejects dispatches that forget a binding or name an unknown one', async () => {
    const ctx = await gpu();
    const x = ctx.createBuffer('x', 16);
    const rec = ctx.record();
    const params = { count: 4, multiplier: 1 };
    expect(() => rec.dispatch(residualAddKernel, { bindings: { x, out: x }, params, workgroups: [1] })).toThrow(/'branch' was not given/);
    expect(() => rec.dispatch(residualAddKernel, { bindings: { x, branch: x, out: x, extra: x }, params, workgroups: [1] })).toThrow(
      /no storage binding named 'extra'/,
    );
    await expect(rec.dispatch(residualAddKernel, { bindings: { x, branch: x, out: x }, params: { count: 4 }, workgroups: [1] }).submit()).rejects.toThrow(
      /multiplier/,
    );
    x.destroy();
  });
});
