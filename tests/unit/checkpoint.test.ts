/**
 * Opening model folders: the six fixtures' weights located and shape-checked, a transformers 5 fused copy, sharded
 * folders with model.safetensors.index.json, and the errors for missing files, missing tensors, wrong shapes and
 * wrong dtypes, each naming the file and the tensor.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { ModelFileError, type ModelFileProblem } from '../../src/engine/errors.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { openCheckpoint, readTensorRaw, readText } from '../../src/engine/model/checkpoint.ts';
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
import { tempDir } from '../helpers/safetensors-bytes.ts';

const temp = tempDir();
afterAll(() => temp.remove());
let folders = 0;

const configOf = (name: string) => JSON.parse(readFileSync(join(fixtureDir(name as never), 'config.json'), 'utf8')) as Record<string, unknown>;
const tensorsOf = (name: string) => readRawTensors(join(fixtureDir(name as never), 'model.safetensors'));

/** A new folder under the temp dir holding `tensors` (and the fixture's config unless given). */
function folderWith(fixture: string, tensors: RawTensor[], options: { shards?: number; config?: object } = {}): string {
  const dir = join(temp.dir, `m${folders++}`);
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
