/**
 * Opening model folders: the six fixtures' weights located and shape-checked, a transformers 5 fused copy, sharded
 * folders with model.safetensors.index.json, and the errors for missing files, missing tensors, wrong shapes and
 * wrong dtypes, each naming the file and the tensor.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { ModelFileError, type ModelFileProblem } from '../../src/engine/errors.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { openCheckpoint, readTensorRaw, readText, tensorSpans, withTensorsInMemory, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import type { ByteSource } from '../../src/engine/io/byte-source.ts';
import { FIXTURES, fixtureDir, openFixture } from '../helpers/fixtures.ts';
import {
  firstByteDifference,
  fuseExperts,
  rawTensor,
  readRawTensors,
  shardName,
  toBf16,
  writeModelFolder,
  type RawTensor,
} from '../helpers/checkpoint-files.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const scratch = scratchDir();
let folders = 0;

const configOf = (name: string) => JSON.parse(readFileSync(join(fixtureDir(name as never), 'config.json'), 'utf8')) as Record<string, unknown>;
const tensorsOf = (name: string) => readRawTensors(join(fixtureDir(name as never), 'model.safetensors'));

/** A new folder under the temp dir holding `tensors` (and the fixture's config unless given). */
function folderWith(fixture: string, tensors: RawTensor[], options: { shards?: number; config?: object } = {}): string {
  const dir = join(scratch, `m${folders++}`);
  writeModelFolder(dir, options.config ?? configOf(fixture), tensors, options.shards ?? 1);
  return dir;
}

async function openError(dir: string): Promise<ModelFileError> {
  try {
    await openCheckpoint(new DirectoryFolder(dir));
  } catch (error) {
    if (error instanceof ModelFileError) return error;
    throw error;
  }
  throw new Error('the folder opened');
}

async function expectOpenError(dir: string, problem: ModelFileProblem, file: string, detail: RegExp): Promise<void> {
  const error = await openError(dir);
  expect(error.problem, error.message).toBe(problem);
  expect(error.file).toBe(file);
  expect(error.message).toMatch(detail);
  expect(error.message).not.toMatch(/\n/);
}

/** Every read of a counted checkpoint's files: [file, offset, length]. */
const reads: [string, number, number][] = [];

/** `checkpoint` with each file's reads noted in `reads` (one wrapper per file, so tensors of a file still share it). */
function counted(checkpoint: Checkpoint): Checkpoint {
  const wrappers = new Map<ByteSource, ByteSource>();
  const wrap = (file: ByteSource): ByteSource => {
    let wrapper = wrappers.get(file);
    if (!wrapper) {
      wrapper = {
        name: file.name,
        size: () => file.size(),
        read: (offset, length) => {
          reads.push([file.name, offset, length]);
          return file.read(offset, length);
        },
      };
      wrappers.set(file, wrapper);
    }
    return wrapper;
  };
  const tensors = new Map([...checkpoint.tensors].map(([name, t]) => [name, { info: t.info, source: wrap(t.source) }]));
  reads.length = 0;
  return { ...checkpoint, tensors };
}

describe('the six fixtures', () => {
  for (const name of FIXTURES) {
    it(`${name}: every weight located with the layout, biases and norms its family has`, async () => {
      const checkpoint = await openFixture(name);
      const { spec, names } = checkpoint;
      expect(checkpoint.files).toEqual(['model.safetensors']);
      expect(spec.dtype).toBe('f32');
      expect(names.layers).toHaveLength(2);
      expect(names.lmHead === null).toBe(name === 'granitemoe');
      const layer = names.layers[1];
      expect(layer.experts?.layout).toBe(name === 'granitemoe' ? 'fused' : 'per-expert');
      expect(layer.q!.bias !== null).toBe(name === 'qwen2_moe');
      expect(layer.qNorm !== null).toBe(name === 'qwen3_moe' || name === 'olmoe');
      expect(layer.sharedGate !== null).toBe(name === 'qwen2_moe');
      expect(layer.inputNorm.bias !== null).toBe(name === 'phimoe');
      // Every tensor of the file is one the model uses.
      const used = new Set(
        JSON.stringify(names)
          .match(/"model\.[^"]+"|"lm_head\.[^"]+"/g)!
          .map((n) => JSON.parse(n) as string),
      );
      expect([...used].sort()).toEqual(
        tensorsOf(name)
          .map((t) => t.name)
          .sort(),
      );
      const router = await readTensorRaw(checkpoint, layer.router!);
      expect(firstByteDifference(router.bytes, rawTensor(tensorsOf(name), layer.router!).data)).toBe(-1);
    });
  }
});

describe('layouts and storage dtypes', () => {
  it('opens a transformers 5 fused copy (gate_up_proj [E, 2I, H], down_proj [E, H, I], mlp.gate)', async () => {
    for (const name of ['mixtral', 'qwen2_moe'] as const) {
      const checkpoint = await openCheckpoint(new DirectoryFolder(folderWith(name, fuseExperts(tensorsOf(name)))));
      const experts = checkpoint.names.layers[0].experts!;
      expect(experts).toEqual({ layout: 'fused', gateUp: 'model.layers.0.mlp.experts.gate_up_proj', down: 'model.layers.0.mlp.experts.down_proj' });
      expect(checkpoint.names.layers[0].router).toBe('model.layers.0.mlp.gate.weight');
    }
  });

  it('takes the storage dtype from the tensors (bf16 here) over config.json', async () => {
    const checkpoint = await openCheckpoint(new DirectoryFolder(folderWith('olmoe', toBf16(tensorsOf('olmoe')))));
    expect(checkpoint.spec.dtype).toBe('bf16');
  });

  it('refuses integer weights', async () => {
    const tensors = tensorsOf('mixtral').map((t) => (t.name === 'model.norm.weight' ? { ...t, dtype: 'I32' as const } : t));
    const dir = folderWith('mixtral', tensors);
    await expectOpenError(dir, 'bad-dtype', join(dir, 'model.safetensors'), /model\.norm\.weight is I32/);
  });
});

describe('sharded folders (model.safetensors.index.json)', () => {
  it('locates every tensor in its shard and reads the same bytes', async () => {
    const tensors = tensorsOf('qwen3_moe');
    const dir = folderWith('qwen3_moe', tensors, { shards: 3 });
    const checkpoint = await openCheckpoint(new DirectoryFolder(dir));
    expect(checkpoint.files).toEqual([0, 1, 2].map((i) => shardName(i, 3)));
    for (const t of tensors) {
      const located = checkpoint.tensors.get(t.name)!;
      expect(located.source.name.endsWith('.safetensors') && located.source.name.includes('-of-00003')).toBe(true);
      expect(firstByteDifference((await readTensorRaw(checkpoint, t.name)).bytes, t.data), t.name).toBe(-1);
    }
  });

  it("reads a layer's tensors in one range per shard, and the view answers every tensor from memory", async () => {
    const tensors = tensorsOf('qwen3_moe');
    const checkpoint = counted(await openCheckpoint(new DirectoryFolder(folderWith('qwen3_moe', tensors, { shards: 3 }))));
    const layer = tensors.map((t) => t.name).filter((name) => name.startsWith('model.layers.1.'));
    expect(layer.length).toBeGreaterThan(10);
    const shards = new Set(layer.map((name) => checkpoint.tensors.get(name)!.source));
    const view = await withTensorsInMemory(checkpoint, layer);
    // A layer's tensors sort together in each file: one read per shard holding some of them.
    expect(reads.length).toBe(shards.size);
    reads.length = 0;
    for (const name of layer) {
      const expected = tensors.find((t) => t.name === name)!.data;
      expect(firstByteDifference((await readTensorRaw(view, name)).bytes, expected), name).toBe(-1);
    }
    expect(reads).toEqual([]);
    // Tensors outside the view's set still read from their files.
    const other = tensors.find((t) => !t.name.startsWith('model.layers.1.'))!;
    expect(firstByteDifference((await readTensorRaw(view, other.name)).bytes, other.data)).toBe(-1);
    expect(reads.length).toBe(1);
  });

  it('joins tensors into spans within the gap and size limits, each tensor in exactly one span', async () => {
    const tensors = tensorsOf('qwen3_moe');
    const checkpoint = await openCheckpoint(new DirectoryFolder(folderWith('qwen3_moe', tensors)));
    const names = tensors.map((t) => t.name);
    const spanOf = (limits: { maxGapBytes: number; maxBytes: number }) => {
      const spans = tensorSpans(checkpoint, names, limits);
      expect(spans.flatMap((s) => s.names).sort()).toEqual([...names].sort());
      for (const span of spans) {
        for (const name of span.names) {
          const info = checkpoint.tensors.get(name)!.info;
          expect(info.byteOffset).toBeGreaterThanOrEqual(span.offset);
          expect(info.byteOffset + info.byteLength).toBeLessThanOrEqual(span.offset + span.length);
        }
      }
      return spans;
    };
    // One file, tensors back to back: one span, the whole data section.
    const total = tensors.reduce((sum, t) => sum + t.data.byteLength, 0);
    expect(spanOf({ maxGapBytes: 0, maxBytes: total }).map((s) => s.length)).toEqual([total]);
    // A size cap splits it; a tensor larger than the cap is read alone.
    const largest = Math.max(...tensors.map((t) => t.data.byteLength));
    const capped = spanOf({ maxGapBytes: 0, maxBytes: largest });
    expect(capped.length).toBeGreaterThan(1);
    for (const span of capped) expect(span.length <= largest || span.names.length === 1).toBe(true);
    // Leaving out every other tensor opens gaps: with no gap allowed, each tensor left is its own span.
    const sparse = names.filter((_, i) => i % 2 === 0);
    expect(tensorSpans(checkpoint, sparse, { maxGapBytes: 0, maxBytes: total }).length).toBe(sparse.length);
    expect(tensorSpans(checkpoint, sparse, { maxGapBytes: largest, maxBytes: total }).length).toBe(1);
  });

  it('names a missing shard', async () => {
    const dir = folderWith('mixtral', tensorsOf('mixtral'), { shards: 3 });
    rmSync(join(dir, shardName(1, 3)));
    await expectOpenError(dir, 'missing-file', `${dir}/${shardName(1, 3)}`, /file not found \(listed in model\.safetensors\.index\.json\)/);
  });

  it('names a tensor the index lists but its shard lacks', async () => {
    const dir = folderWith('mixtral', tensorsOf('mixtral'), { shards: 2 });
    const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['model.layers.0.extra.weight'] = shardName(0, 2);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
    await expectOpenError(dir, 'missing-tensor', join(dir, shardName(0, 2)), /'model\.layers\.0\.extra\.weight' listed in model\.safetensors\.index\.json/);
  });

  it('names a tensor the model needs that the index does not list, and a wrong shape in its shard', async () => {
    const tensors = tensorsOf('mixtral');
    let dir = folderWith(
      'mixtral',
      tensors.filter((t) => t.name !== 'model.layers.1.self_attn.v_proj.weight'),
      { shards: 2 },
    );
    await expectOpenError(dir, 'missing-tensor', join(dir, 'model.safetensors.index.json'), /missing tensor model\.layers\.1\.self_attn\.v_proj\.weight/);
    const reshaped = tensors.map((t) => (t.name === 'lm_head.weight' ? { ...t, shape: [256, 128] } : t));
    dir = folderWith('mixtral', reshaped, { shards: 2 });
    const shard = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8')).weight_map['lm_head.weight'];
    await expectOpenError(dir, 'shape-mismatch', join(dir, shard), /lm_head\.weight has shape \[256,128\]/);
  });

  it('refuses shard names that leave the folder, and a malformed index', async () => {
    const dir = folderWith('mixtral', tensorsOf('mixtral'), { shards: 2 });
    const indexFile = join(dir, 'model.safetensors.index.json');
    writeFileSync(indexFile, JSON.stringify({ weight_map: { 'lm_head.weight': '../model.safetensors' } }));
    await expectOpenError(dir, 'bad-json', indexFile, /'lm_head\.weight'.*not a safetensors file name/);
    writeFileSync(indexFile, JSON.stringify({ metadata: {} }));
    await expectOpenError(dir, 'bad-json', indexFile, /weight_map is missing/);
    writeFileSync(indexFile, '{"weight_map": ');
    await expectOpenError(dir, 'bad-json', indexFile, /not valid JSON/);
  });
});

describe('missing files, tensors and shapes', () => {
  it('names a missing config.json and a missing model.safetensors', async () => {
    const dir = folderWith('mixtral', tensorsOf('mixtral'));
    rmSync(join(dir, 'model.safetensors'));
    await expectOpenError(dir, 'missing-file', `${dir}/model.safetensors`, /file not found/);
    rmSync(join(dir, 'config.json'));
    await expectOpenError(dir, 'missing-file', `${dir}/config.json`, /file not found/);
  });

  it('names the missing tensor: an expert, an untied LM head, a shared-expert gate, a q/k norm, a LayerNorm bias', async () => {
    const cases: [string, string][] = [
      ['mixtral', 'model.layers.1.block_sparse_moe.experts.7.w3.weight'],
      ['mixtral', 'lm_head.weight'],
      ['qwen2_moe', 'model.layers.0.mlp.shared_expert_gate.weight'],
      ['qwen2_moe', 'model.layers.1.self_attn.q_proj.bias'],
      ['qwen3_moe', 'model.layers.0.self_attn.k_norm.weight'],
      ['phimoe', 'model.norm.bias'],
      ['granitemoe', 'model.layers.1.block_sparse_moe.output_linear.weight'],
    ];
    for (const [fixture, missing] of cases) {
      const dir = folderWith(
        fixture,
        tensorsOf(fixture).filter((t) => t.name !== missing),
      );
      await expectOpenError(dir, 'missing-tensor', join(dir, 'model.safetensors'), new RegExp(`missing tensor ${missing.replace(/\./g, '\\.')}`));
    }
  });

  it('names a tensor whose shape does not match config.json', async () => {
    const cases: [string, string, number[]][] = [
      ['olmoe', 'model.layers.0.mlp.gate.weight', [4, 128]],
      ['granitemoe', 'model.layers.0.block_sparse_moe.input_linear.weight', [8, 32, 128]],
      ['qwen3_moe', 'model.layers.0.self_attn.q_norm.weight', [8, 2]],
    ];
    for (const [fixture, name, shape] of cases) {
      const dir = folderWith(
        fixture,
        tensorsOf(fixture).map((t) => (t.name === name ? { ...t, shape } : t)),
      );
      await expectOpenError(dir, 'shape-mismatch', join(dir, 'model.safetensors'), new RegExp(`${name.replace(/\./g, '\\.')} has shape \\[${shape}\\]`));
    }
  });

  it('names a config.json that does not match the weights (wrong expert count)', async () => {
    const dir = folderWith('mixtral', tensorsOf('mixtral'), { config: { ...configOf('mixtral'), num_local_experts: 9 } });
    await expectOpenError(dir, 'missing-tensor', join(dir, 'model.safetensors'), /experts\.8\.w1\.weight/);
  });

  it('refuses JSON files over their size limit before reading them', async () => {
    const source = new MemoryByteSource('big/config.json', new Uint8Array(64));
    await expect(readText(source, 32)).rejects.toThrow(/^big\/config\.json: file is 64 bytes, more than the 32-byte limit/);
    await expect(readText(new MemoryByteSource('x/config.json', new Uint8Array([0xff])))).rejects.toThrow(/not valid UTF-8/);
  });
});
