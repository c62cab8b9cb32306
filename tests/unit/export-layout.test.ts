/**
 * The export's mapping of stored tensors to canonical matrices (src/engine/export/tensor-plan.ts) for the
 * per-expert (Mixtral), fused (transformers 5) and GraniteMoE layouts, what dropping experts does to names and
 * shapes, the pruned folder written in memory (zeros exactly where the masks say, other tensors byte-identical,
 * shards and their index rewritten), config.json's expert count, and the streaming SHA-256 against node:crypto.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { collectEntry, prunedConfig, prunedModelEntries, type SourceHashes } from '../../src/engine/export/hf-folder.ts';
import { Sha256 } from '../../src/engine/export/sha256.ts';
import { exportedTensor, prunableTensorLayouts, renameExpert } from '../../src/engine/export/tensor-plan.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { isKept, type MaskSet } from '../../src/engine/model/mask-set.ts';
import { createRng } from '../../src/engine/random.ts';
import { fuseExperts, readRawTensors, toBf16, writeModelFolder, type RawTensor } from '../helpers/checkpoint-files.ts';
import { fixtureDir, openFixture } from '../helpers/fixtures.ts';
import { randomMaskSet } from '../helpers/random-masks.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-export-');

let written = 0;
/** The tensors of safetensors bytes, by the helpers' independent reader (which takes a path). */
function readRawBytes(bytes: Uint8Array): RawTensor[] {
  const path = join(work, `raw-${written++}.safetensors`);
  writeFileSync(path, bytes);
  return readRawTensors(path);
}

async function fusedMixtral(shards = 1, bf16 = false): Promise<Checkpoint> {
  const dir = join(work, `fused-${shards}-${bf16 ? 'bf16' : 'f32'}`);
  const config = JSON.parse(readFileSync(join(fixtureDir('mixtral'), 'config.json'), 'utf8'));
  const fused = fuseExperts(readRawTensors(join(fixtureDir('mixtral'), 'model.safetensors')));
  writeModelFolder(dir, config, bf16 ? toBf16(fused) : fused, shards);
  return openCheckpoint(new DirectoryFolder(dir));
}

describe('stored tensors -> canonical matrices', () => {
  it('per-expert (Mixtral): one expert matrix per tensor at its canonical offset; router rows per expert', async () => {
    const checkpoint = await openFixture('mixtral');
    const { expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
    const layouts = prunableTensorLayouts(checkpoint);
    const up = layouts.get('model.layers.1.block_sparse_moe.experts.3.w3.weight')!;
    expect(up).toEqual({
      name: up.name,
      kind: 'per-expert',
      segments: [{ start: 0, count: I * H, canonical: { layer: 1, key: 'experts.gate_up', start: 7 * I * H }, expert: { layer: 1, index: 3 } }],
    });
    expect(layouts.get('model.layers.1.block_sparse_moe.experts.3.w2.weight')!.segments[0].canonical).toEqual({
      layer: 1,
      key: 'experts.down',
      start: 3 * H * I,
    });
    expect(layouts.get('model.layers.0.self_attn.k_proj.weight')!.segments[0].canonical).toEqual({ layer: 0, key: 'attn.k', start: 0 });
    const router = layouts.get('model.layers.0.block_sparse_moe.gate.weight')!;
    expect(router.kind).toBe('router');
    expect(router.segments.map((s) => [s.start, s.count, s.expert!.index])).toEqual(Array.from({ length: 8 }, (_, e) => [e * H, H, e]));
    expect(layouts.has('model.embed_tokens.weight')).toBe(false);
  });

  it('fused (transformers 5) and GraniteMoE: all experts in one tensor, segment e = canonical expert e', async () => {
    for (const checkpoint of [await fusedMixtral(), await openFixture('granitemoe')]) {
      const { expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
      const names = checkpoint.names.layers[0].experts as { layout: 'fused'; gateUp: string; down: string };
      expect(names.layout).toBe('fused');
      const layouts = prunableTensorLayouts(checkpoint);
      const gateUp = layouts.get(names.gateUp)!;
      expect(gateUp.kind).toBe('fused-experts');
      expect(gateUp.segments.map((s) => [s.start, s.count, s.canonical!.start, s.expert!.index])).toEqual(
        Array.from({ length: 8 }, (_, e) => [2 * e * I * H, 2 * I * H, 2 * e * I * H, e]),
      );
      expect(layouts.get(names.down)!.segments[5]).toEqual({
        start: 5 * H * I,
        count: H * I,
        canonical: { layer: 0, key: 'experts.down', start: 5 * H * I },
        expert: { layer: 0, index: 5 },
      });
    }
  });

  it('dropping experts: per-expert tensors removed or renumbered, fused tensors and routers shrunk', async () => {
    const mixtral = await openFixture('mixtral');
    const granite = await openFixture('granitemoe');
    const drop = new Map([
      [0, [1, 4]],
      [1, [7]],
    ]);
    const info = (c: Checkpoint, name: string) => c.tensors.get(name)!.info;
    const layouts = prunableTensorLayouts(mixtral);
    const at = (name: string) => exportedTensor(info(mixtral, name), layouts.get(name), drop);
    expect(at('model.layers.0.block_sparse_moe.experts.4.w1.weight')).toBeNull();
    expect(at('model.layers.0.block_sparse_moe.experts.5.w1.weight')!.name).toBe('model.layers.0.block_sparse_moe.experts.3.w1.weight');
    expect(at('model.layers.0.block_sparse_moe.experts.0.w2.weight')!.name).toBe('model.layers.0.block_sparse_moe.experts.0.w2.weight');
    expect(at('model.layers.1.block_sparse_moe.experts.6.w3.weight')!.name).toBe('model.layers.1.block_sparse_moe.experts.6.w3.weight');
    const router = at('model.layers.0.block_sparse_moe.gate.weight')!;
    expect(router.shape).toEqual([6, mixtral.spec.hiddenSize]);
    expect(router.segments.map((s) => s.expert!.index)).toEqual([0, 2, 3, 5, 6, 7]);
    expect(at('model.embed_tokens.weight')).toMatchObject({ name: 'model.embed_tokens.weight', shape: info(mixtral, 'model.embed_tokens.weight').shape });
    const gLayouts = prunableTensorLayouts(granite);
    const gateUp = granite.names.layers[1].experts as { gateUp: string };
    const fused = exportedTensor(info(granite, gateUp.gateUp), gLayouts.get(gateUp.gateUp), drop)!;
    expect(fused.shape).toEqual([7, 2 * granite.spec.expertFfnSize, granite.spec.hiddenSize]);
    expect(renameExpert('model.layers.10.mlp.experts.12.down_proj.weight', 12, 9)).toBe('model.layers.10.mlp.experts.9.down_proj.weight');
    expect(() => renameExpert('model.layers.1.mlp.gate.weight', 1, 0)).toThrow(/does not name expert 1/);
    expect(prunedConfig({ num_local_experts: 8, num_experts_per_tok: 2 }, 6)).toEqual({ num_local_experts: 6, num_experts_per_tok: 2 });
    expect(prunedConfig({ num_experts: 60, num_local_experts: 60 }, 45)).toEqual({ num_experts: 45, num_local_experts: 45 });
  });
});

/** Random masks over the experts' (and with `attention`, attention's) matrices of the MoE layers, `dropped` experts disabled. */
function randomMasks(checkpoint: Checkpoint, dropped: Map<number, number[]>, attention: boolean): MaskSet {
  return randomMaskSet(checkpoint, ['experts.gate_up', 'experts.down', ...(attention ? (['attn.q', 'attn.k', 'attn.v', 'attn.o'] as const) : [])], dropped);
}

async function exportInMemory(checkpoint: Checkpoint, masks: MaskSet): Promise<{ files: Map<string, Uint8Array>; sources: SourceHashes }> {
  const sources: SourceHashes = new Map();
  const files = new Map<string, Uint8Array>();
  for (const entry of await prunedModelEntries({ checkpoint, masks }, sources)) files.set(entry.path, await collectEntry(entry));
  return { files, sources };
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('pruned folder in memory', () => {
  it('Mixtral: same header bytes, zeros exactly where the masks prune, everything else byte-identical; input hashes', async () => {
    const checkpoint = await openFixture('mixtral');
    const masks = randomMasks(checkpoint, new Map(), true);
    const { files, sources } = await exportInMemory(checkpoint, masks);
    const inputBytes = new Uint8Array(readFileSync(join(fixtureDir('mixtral'), 'model.safetensors')));
    const output = files.get('model.safetensors')!;
    expect(output.byteLength).toBe(inputBytes.byteLength);
    expect(sources.get('model.safetensors')).toEqual({ path: 'model.safetensors', bytes: inputBytes.byteLength, sha256: sha(inputBytes) });
    expect([...files.keys()]).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const layouts = prunableTensorLayouts(checkpoint);
    const before = new Map(readRawTensors(join(fixtureDir('mixtral'), 'model.safetensors')).map((t) => [t.name, t]));
    let zeroed = 0;
    for (const t of readRawBytes(output)) {
      const original = before.get(t.name)!;
      const layout = layouts.get(t.name);
      const canonical = layout?.segments[0].canonical;
      if (!canonical) {
        expect(Buffer.compare(Buffer.from(t.data), Buffer.from(original.data)), t.name).toBe(0);
        continue;
      }
      const mask = masks.layers[canonical.layer]!.matrices[canonical.key]!;
      const values = new Float32Array(t.data.slice().buffer);
      const was = new Float32Array(original.data.slice().buffer);
      for (let i = 0; i < values.length; i++) {
        const kept = isKept(mask, canonical.start + i);
        if (kept ? values[i] !== was[i] : !Object.is(values[i], 0)) throw new Error(`${t.name}[${i}]: ${values[i]} (was ${was[i]}, kept ${kept})`);
        if (!kept) zeroed++;
      }
    }
    expect(zeroed).toBeGreaterThan(100_000);
  });

  it('fused, bf16 and sharded, experts dropped: E - r experts, router rows removed, index and config rewritten', async () => {
    const checkpoint = await fusedMixtral(3, true);
    const dropped = new Map([
      [0, [0, 6]],
      [1, [2, 3]],
    ]);
    const masks = randomMasks(checkpoint, dropped, false);
    const { files } = await exportInMemory(checkpoint, masks);
    expect(JSON.parse(new TextDecoder().decode(files.get('config.json')!)).num_local_experts).toBe(6);
    const index = JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json')!)) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    const outputs = checkpoint.files.flatMap((f) => readRawBytes(files.get(f)!).map((t) => ({ ...t, file: f })));
    expect(index.weight_map).toEqual(Object.fromEntries(outputs.map((t) => [t.name, t.file])));
    expect(index.metadata.total_size).toBe(outputs.reduce((n, t) => n + t.data.byteLength, 0));
    const { expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
    const inputs = new Map(checkpoint.files.flatMap((f) => readRawTensors(join(checkpoint.folder.name, f))).map((t) => [t.name, t]));
    for (const l of [0, 1]) {
      const kept = [0, 1, 2, 3, 4, 5, 6, 7].filter((e) => !dropped.get(l)!.includes(e));
      const router = outputs.find((t) => t.name === `model.layers.${l}.mlp.gate.weight`)!;
      const routerIn = inputs.get(`model.layers.${l}.mlp.gate.weight`)!;
      expect(router.shape).toEqual([6, H]);
      expect(router.dtype).toBe('BF16');
      kept.forEach((e, i) =>
        expect(
          Buffer.compare(Buffer.from(router.data.subarray(i * H * 2, (i + 1) * H * 2)), Buffer.from(routerIn.data.subarray(e * H * 2, (e + 1) * H * 2))),
        ).toBe(0),
      );
      const down = outputs.find((t) => t.name === `model.layers.${l}.mlp.experts.down_proj`)!;
      const downIn = new Uint16Array(inputs.get(`model.layers.${l}.mlp.experts.down_proj`)!.data.slice().buffer);
      expect(down.shape).toEqual([6, H, I]);
      const values = new Uint16Array(down.data.slice().buffer);
      const mask = masks.layers[l]!.matrices['experts.down']!;
      kept.forEach((e, i) => {
        for (let j = 0; j < H * I; j++) {
          const c = e * H * I + j;
          const want = isKept(mask, c) ? downIn[c] : 0; // bf16 bits: +0 where pruned
          if (values[i * H * I + j] !== want) throw new Error(`layer ${l} expert ${e} down[${j}]: bits ${values[i * H * I + j]} != ${want}`);
        }
      });
    }
  });
});

describe('SHA-256', () => {
  it('equals node:crypto for lengths around the block and padding edges, fed in uneven chunks', () => {
    const rng = createRng(3);
    for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 70_001]) {
      const bytes = Uint8Array.from({ length }, () => rng.int(256));
      const hash = new Sha256();
      for (let at = 0; at < length;) {
        const step = 1 + rng.int(97);
        hash.update(bytes.subarray(at, at + step));
        at += step;
      }
      expect(hash.hex(), `length ${length}`).toBe(sha(bytes));
    }
  });
});
