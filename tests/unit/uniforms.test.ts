import { describe, expect, it } from 'vitest';
import { uniformLayout, writeUniforms } from '../../src/gpu/uniforms.ts';
import { defineKernel, grid1d } from '../../src/gpu/kernel.ts';

describe('uniform layout from WGSL', () => {
  const wgsl = `
    struct Params {
      count: u32,     // T * H
      scale: f32,
      window: vec2<u32>,
      bias: vec4f,
      last: i32,
    }`;

  it('follows WGSL alignment rules', () => {
    const layout = uniformLayout(wgsl, 'Params');
    expect(layout.fields.map((f) => [f.name, f.offset])).toEqual([
      ['count', 0],
      ['scale', 4],
      ['window', 8],
      ['bias', 16],
      ['last', 32],
    ]);
    expect(layout.size).toBe(48);
  });

  it('writes values by name and refuses missing, extra or non-u32 values', () => {
    const layout = uniformLayout(wgsl, 'Params');
    const buffer = new ArrayBuffer(64);
    writeUniforms(layout, { count: 7, scale: 0.5, window: [3, 4], bias: [1, 2, 3, 4], last: -2 }, buffer, 16);
    const view = new DataView(buffer, 16);
    expect(view.getUint32(0, true)).toBe(7);
    expect(view.getFloat32(4, true)).toBe(0.5);
    expect(view.getUint32(12, true)).toBe(4);
    expect(view.getFloat32(28, true)).toBe(4);
    expect(view.getInt32(32, true)).toBe(-2);
    expect(() => writeUniforms(layout, { count: 7 }, buffer)).toThrow(/scale was not given/);
    expect(() => writeUniforms(layout, { count: 1, scale: 1, window: [1, 1], bias: [1, 1, 1, 1], last: 0, typo: 1 }, buffer)).toThrow(/typo/);
    expect(() => writeUniforms(layout, { count: -1, scale: 1, window: [1, 1], bias: [1, 1, 1, 1], last: 0 }, buffer)).toThrow(/not a u32/);
  });

  it('reads bindings and overrides from a kernel source', () => {
    const kernel = defineKernel({
      name: 'test/k',
      source: `
        struct Params { n: u32, }
        override BLOCK: u32 = 64u;
        @group(0) @binding(0) var<uniform> params: Params;
        @group(0) @binding(2) var<storage, read_write> out: array<f32>;
        @group(0) @binding(1) var<storage, read> x: array<f32>; // read-only
        @compute @workgroup_size(BLOCK) fn main() {}`,
    });
    expect(kernel.bindings.map((b) => `${b.binding}:${b.name}:${b.kind}`)).toEqual(['0:params:uniform', '1:x:read-only-storage', '2:out:storage']);
    expect(kernel.overrides).toEqual(['BLOCK']);
    expect(kernel.params?.size).toBe(16);
  });

  it('folds large 1-D grids into two dimensions', () => {
    expect(grid1d(1000, 256)).toEqual([4, 1]);
    const [x, y] = grid1d(65536 * 256 * 3, 256);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(65536 * 3);
  });
});
