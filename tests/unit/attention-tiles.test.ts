/**
 * nn/attention's key/value tiles (attentionTile, ATTENTION_TILE_KEYS): whole keys, at most 2048 floats, the shader's
 * MAX_BLOCK_KEYS, fewer keys on CPU drivers (their compile time grows with workgroup memory).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ATTENTION_TILE_KEYS } from '../../src/gpu/context.ts';
import { attentionTile, KV_TILE_MAX, MAX_BLOCK_KEYS, MAX_HEAD_DIM } from '../../src/gpu/kernels/nn/attention.ts';

const shader = readFileSync(new URL('../../shaders/nn/attention.wgsl', import.meta.url), 'utf8');

describe('nn/attention key/value tiles', () => {
  it('hold whole keys of every head dim, up to MAX_BLOCK_KEYS keys and KV_TILE_MAX floats', () => {
    for (const keys of Object.values(ATTENTION_TILE_KEYS)) {
      for (let D = 2; D <= MAX_HEAD_DIM; D += 2) {
        const tile = attentionTile(D, keys);
        expect(tile).toBeLessThanOrEqual(KV_TILE_MAX);
        // The shader's keys per tile, min(MAX_BLOCK_KEYS, KV_TILE / D): at least one, at most the keys asked for.
        const held = Math.min(MAX_BLOCK_KEYS, Math.floor(tile / D));
        expect(held).toBeGreaterThanOrEqual(1);
        expect(held).toBeLessThanOrEqual(keys);
      }
    }
    expect(attentionTile(32, ATTENTION_TILE_KEYS.software)).toBe(256); // the default model's heads on SwiftShader
    expect(attentionTile(32, ATTENTION_TILE_KEYS.gpu)).toBe(1024);
    expect(attentionTile(192, ATTENTION_TILE_KEYS.gpu)).toBe(KV_TILE_MAX); // MLA: 10 keys of 192
  });

  it("match the shader's constants", () => {
    expect(shader).toContain(`const MAX_BLOCK_KEYS: u32 = ${MAX_BLOCK_KEYS}u;`);
    expect(shader).toContain(`const MAX_HEAD_DIM: u32 = ${MAX_HEAD_DIM}u;`);
    expect(shader).toContain(`override KV_TILE: u32 = ${KV_TILE_MAX}u;`);
    expect(ATTENTION_TILE_KEYS.software).toBeLessThan(ATTENTION_TILE_KEYS.gpu);
  });
});
