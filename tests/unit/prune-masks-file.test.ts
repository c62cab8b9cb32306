/**
 * masks.safetensors (src/engine/prune/masks-file.ts): the packed-bit layout (bit i & 7 of byte i >> 3 = the
 * little-endian bytes of the u32 bitset words), a round trip through the safetensors reader with U8 on request,
 * and the reader's refusals (U8 without asking, another model's shapes, wrong element counts, bad values); multi-head
 * latent attention's keys (attn.q_a / q_b / kv_a / kv_b) where the model has them.
 */
import { describe, expect, it } from 'vitest';
import { ModelFileError } from '../../src/engine/errors.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { readSafetensorsHeader, writeSafetensors } from '../../src/engine/io/safetensors.ts';
import { allKeptMask, type MaskSet } from '../../src/engine/model/mask-set.ts';
import { canonicalElements, targetKeys } from '../../src/engine/prune/layer-plan.ts';
import { masksFromSafetensors, masksToSafetensors, packMaskBytes, unpackMaskBytes } from '../../src/engine/prune/masks-file.ts';
import { createRng } from '../../src/engine/random.ts';
import { openFixture } from '../helpers/fixtures.ts';

async function read(bytes: Uint8Array, u8 = true) {
  return readSafetensorsHeader(new MemoryByteSource('masks.safetensors', bytes), u8 ? { extraDtypes: ['U8'] } : {});
}

function randomMask(elements: number, seed: number): Uint32Array {
  const rng = createRng(seed);
  const mask = allKeptMask(elements);
  for (let i = 0; i < elements; i++) if (rng.next() < 0.5) mask[i >>> 5] &= ~(1 << (i & 31));
  return mask;
}

describe('masks.safetensors', () => {
  it('packs element i into bit i & 7 of byte i >> 3 (the words little-endian) and clears the tail', () => {
    const words = Uint32Array.from([0x04030201, 0xffffffff]);
    expect(Array.from(packMaskBytes(words, 40))).toEqual([1, 2, 3, 4, 0xff]);
    expect(Array.from(packMaskBytes(words, 37))).toEqual([1, 2, 3, 4, 0x1f]);
    expect(Array.from(unpackMaskBytes(Uint8Array.from([1, 2, 3, 4, 0xff]), 37))).toEqual([0x04030201, 0x1f]);
    const mask = randomMask(1001, 5);
    expect(Array.from(unpackMaskBytes(packMaskBytes(mask, 1001), 1001))).toEqual(Array.from(mask));
  });

  it('round-trips a mask set (matrices, dropped experts, dense layers) for the model it was made for', async () => {
    const { spec } = await openFixture('qwen2_moe');
    const keys = ['experts.gate_up', 'experts.down', 'attn.q', 'attn.k', 'attn.v', 'attn.o', 'shared.gate_up', 'shared.down'] as const;
    const masks: MaskSet = {
      layers: [
        {
          matrices: Object.fromEntries(keys.map((k, i) => [k, randomMask(canonicalElements(spec, k), i)])),
          expertEnabled: Uint8Array.from([1, 0, 1, 1, 1, 1, 0, 1]),
        },
        null,
      ],
    };
    const bytes = masksToSafetensors(spec, masks, { method: 'wanda', model_hash: 'abc' });
    const header = await read(bytes);
    expect(header.metadata).toMatchObject({
      format: 'moe-lab-masks/1',
      method: 'wanda',
      model_hash: 'abc',
      'layers.0.experts.down.elements': String(canonicalElements(spec, 'experts.down')),
    });
    expect(header.tensors.get('layers.0.experts.gate_up')).toMatchObject({ dtype: 'U8', shape: [canonicalElements(spec, 'experts.gate_up') / 8] });
    const back = masksFromSafetensors(spec, header, bytes);
    expect(back.layers[1]).toBeNull();
    for (const k of keys) expect(Array.from(back.layers[0]!.matrices[k]!), k).toEqual(Array.from(masks.layers[0]!.matrices[k]!));
    expect(Array.from(back.layers[0]!.expertEnabled!)).toEqual([1, 0, 1, 1, 1, 1, 0, 1]);
  });

  it("round-trips multi-head latent attention's masks and refuses the projections its layers lack", async () => {
    for (const name of ['deepseek_v2', 'deepseek_v3'] as const) {
      const { spec } = await openFixture(name);
      const keys = targetKeys(spec, 1, ['attention']);
      expect(keys, name).toEqual(
        spec.mla!.qLoraRank === null ? ['attn.q', 'attn.kv_a', 'attn.kv_b', 'attn.o'] : ['attn.q_a', 'attn.q_b', 'attn.kv_a', 'attn.kv_b', 'attn.o'],
      );
      const layers: MaskSet['layers'] = spec.moeLayers.map(() => null);
      layers[1] = { matrices: Object.fromEntries(keys.map((k, i) => [k, randomMask(canonicalElements(spec, k), i)])) };
      const bytes = masksToSafetensors(spec, { layers });
      const back = masksFromSafetensors(spec, await read(bytes), bytes);
      for (const k of keys) expect(Array.from(back.layers[1]!.matrices[k]!), `${name} ${k}`).toEqual(Array.from(layers[1].matrices[k]!));
      for (const absent of ['attn.k', ...(spec.mla!.qLoraRank === null ? ['attn.q_a'] : ['attn.q'])]) {
        const file = writeSafetensors([{ name: `layers.1.${absent}`, dtype: 'U8', shape: [8], data: new Uint8Array(8) }], { format: 'moe-lab-masks/1' });
        const header = await read(file);
        expect(() => masksFromSafetensors(spec, header, file), `${name} ${absent}`).toThrow(/is not a prunable matrix of this model/);
      }
    }
  });

  it('refuses U8 unless asked, other models, wrong counts and bad values with a one-line ModelFileError', async () => {
    const { spec } = await openFixture('mixtral');
    const qwen = (await openFixture('qwen2_moe')).spec;
    const n = canonicalElements(spec, 'experts.down');
    const good = masksToSafetensors(spec, { layers: [{ matrices: { 'experts.down': allKeptMask(n) } }, null] });
    await expect(read(good, false)).rejects.toThrow(/dtype U8 is not supported/);
    const header = await read(good);
    // qwen2_moe's experts are narrower: the element count no longer matches.
    expect(() => masksFromSafetensors(qwen, header, good)).toThrow(/layers\.0\.experts\.down covers \d+ elements in \d+ bytes; this model's matrix has/);
    const u8 = (name: string, data: Uint8Array, metadata: Record<string, string>) =>
      writeSafetensors([{ name, dtype: 'U8', shape: [data.length], data }], { format: 'moe-lab-masks/1', ...metadata });
    const cases: [Uint8Array, RegExp][] = [
      [u8('layers.5.experts.down', new Uint8Array(n / 8), { 'layers.5.experts.down.elements': String(n) }), /names no MoE layer/],
      [u8('layers.0.shared.down', new Uint8Array(8), {}), /not a prunable matrix of this model/],
      [u8('layers.0.expert_enabled', Uint8Array.from([1, 2, 1, 1, 1, 1, 1, 1]), {}), /values other than 0 and 1/],
      [u8('layers.0.expert_enabled', new Uint8Array(4), {}), /4 entries, the model 8 experts/],
      [writeSafetensors([], { format: 'other' }), /expected moe-lab-masks\/1/],
    ];
    for (const [bytes, message] of cases) {
      const parsed = await read(bytes);
      expect(() => masksFromSafetensors(spec, parsed, bytes)).toThrow(ModelFileError);
      expect(() => masksFromSafetensors(spec, parsed, bytes)).toThrow(message);
    }
  });
});
