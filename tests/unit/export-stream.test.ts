/**
 * The pruned export streams (src/engine/export/hf-folder.ts): on a synthetic model every input byte is read once,
 * by ranges no larger than one tensor (one expert's matrix inside fused expert tensors), every chunk written is as
 * small, SparseGPT's updated weights are asked for one layer at a time, and the files equal those of the same
 * export read from the whole file in memory. On the fixtures the files are bit-for-bit those the export wrote
 * before it was bounded (SHA-256 recorded from commit fd32914), sharded input kept sharded with its index.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { collectEntry, prunedModelEntries, writeEntries, type PrunedModelInput, type SourceHashes } from '../../src/engine/export/hf-folder.ts';
import { prunableTensorLayouts } from '../../src/engine/export/tensor-plan.ts';
import { MemoryByteSource, type ByteSource } from '../../src/engine/io/byte-source.ts';
import { DTYPE_BYTES } from '../../src/engine/io/safetensors.ts';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { openCheckpoint, type Checkpoint, type ModelFolder } from '../../src/engine/model/checkpoint.ts';
import { type MatrixKey } from '../../src/engine/model/mask-set.ts';
import { canonicalElements } from '../../src/engine/prune/layer-plan.ts';
import { createRng } from '../../src/engine/random.ts';
import { fuseExperts, readRawTensors, toBf16, writeModelFolder } from '../helpers/checkpoint-files.ts';
import { fixtureDir, openFixture, type FixtureName } from '../helpers/fixtures.ts';
import { randomMaskSet } from '../helpers/random-masks.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-export-stream-');

/** Seeded stand-ins for SparseGPT's updated weights (model dtype bytes of the canonical matrix) of `keys` in `layers`. */
function updatedWeights(checkpoint: Checkpoint, layers: number[], keys: MatrixKey[], asked: string[]): PrunedModelInput['updatedWeights'] {
  const dtype = checkpoint.tensors.values().next().value!.info.dtype;
  return async (layer, key) => {
    asked.push(`${layer}.${key}`);
    if (!layers.includes(layer) || !keys.includes(key)) return null;
    const rng = createRng(1000 * layer + keys.indexOf(key));
    const bytes = new Uint8Array(canonicalElements(checkpoint.spec, key) * DTYPE_BYTES[dtype]);
    // Finite values of either dtype: random low bytes, a fixed exponent byte.
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 2 === 1 ? 0x3c : Math.floor(rng.next() * 256);
    return bytes;
  };
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

async function exportHashes(input: PrunedModelInput): Promise<Record<string, string>> {
  const sources: SourceHashes = new Map();
  const out: Record<string, string> = {};
  for (const entry of await prunedModelEntries(input, sources)) out[entry.path] = sha(await collectEntry(entry));
  return out;
}

/** A folder whose files record every read: the largest range and the bytes read per file. */
function instrumented(folder: ModelFolder): { folder: ModelFolder; largestRead: () => number; bytesRead: Map<string, number> } {
  let largest = 0;
  const bytesRead = new Map<string, number>();
  return {
    largestRead: () => largest,
    bytesRead,
    folder: {
      name: folder.name,
      async open(path) {
        const source = await folder.open(path);
        if (!source) return null;
        const counted: ByteSource = {
          name: source.name,
          size: () => source.size(),
          async read(offset, length) {
            largest = Math.max(largest, length);
            bytesRead.set(path, (bytesRead.get(path) ?? 0) + length);
            return source.read(offset, length);
          },
        };
        return counted;
      },
    },
  };
}

describe('export, streamed', () => {
  it('synthetic model: each byte read once, no read or write larger than one tensor, updated weights one layer at a time, same files as from memory', async () => {
    const config = {
      architectures: ['MixtralForCausalLM'],
      model_type: 'mixtral',
      hidden_size: 128,
      intermediate_size: 256,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      num_local_experts: 8,
      num_experts_per_tok: 2,
      vocab_size: 2048,
      max_position_embeddings: 256,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
    };
    const synthetic = syntheticModelFolder(config, 'F16', 3);
    const probe = instrumented(synthetic);
    const checkpoint = await openCheckpoint(probe.folder);
    const { spec } = checkpoint;
    const fileBytes = await (await synthetic.open('model.safetensors'))!.size();
    // The largest unit the export may hold: one stored tensor, or one expert's slice of a fused expert tensor.
    const layouts = prunableTensorLayouts(checkpoint);
    const unit = Math.max(
      ...[...checkpoint.tensors.values()].map(({ info }) =>
        layouts.get(info.name)?.kind === 'fused-experts' ? info.byteLength / spec.numExperts : info.byteLength,
      ),
    );
    expect(unit).toBeLessThan(fileBytes / 8);
    const masks = randomMaskSet(checkpoint, ['experts.gate_up', 'experts.down', 'attn.q', 'attn.o'], new Map([0, 1, 2, 3].map((l) => [l, [5]])));
    const asked: string[] = [];
    const input = { checkpoint, masks, updatedWeights: updatedWeights(checkpoint, [1, 3], ['experts.gate_up', 'experts.down'], asked) };
    probe.bytesRead.clear();
    let largestChunk = 0;
    const written = new Map<string, Uint8Array[]>();
    const sources: SourceHashes = new Map();
    await writeEntries(await prunedModelEntries(input, sources), async (path, chunks) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of chunks) {
        largestChunk = Math.max(largestChunk, chunk.byteLength);
        parts.push(chunk.slice());
      }
      written.set(path, parts);
    });
    // Every tensor byte once; the header twice (parsed, then copied to the output).
    const tensorBytes = [...checkpoint.tensors.values()].reduce((n, t) => n + t.info.byteLength, 0);
    expect(probe.bytesRead.get('model.safetensors')).toBe(fileBytes + (fileBytes - tensorBytes));
    expect(probe.largestRead()).toBeLessThanOrEqual(unit);
    expect(largestChunk).toBeLessThanOrEqual(unit);
    // Asked once per (layer, matrix), layer after layer.
    const layersAsked = asked.map((id) => Number(id.split('.')[0]));
    expect(new Set(asked).size).toBe(asked.length);
    expect(layersAsked).toEqual([...layersAsked].sort((a, b) => a - b));
    // The same export read from the whole file in memory.
    const whole = await (await synthetic.open('model.safetensors'))!.read(0, fileBytes);
    const inMemory = await openCheckpoint({
      name: 'synthetic',
      async open(path) {
        if (path === 'model.safetensors') return new MemoryByteSource(path, whole);
        return synthetic.open(path);
      },
    });
    const expected = await exportHashes({
      ...input,
      checkpoint: inMemory,
      updatedWeights: updatedWeights(inMemory, [1, 3], ['experts.gate_up', 'experts.down'], []),
    });
    const got = Object.fromEntries([...written].map(([path, parts]) => [path, sha(new Uint8Array(Buffer.concat(parts)))]));
    expect(got).toEqual(expected);
    expect(JSON.parse(new TextDecoder().decode(Buffer.concat(written.get('config.json')!))).num_local_experts).toBe(7);
  });

  it('fixtures: files bit-for-bit as the export wrote them before (per-expert, fused bf16 sharded with dropped experts, shared expert, updated weights)', async () => {
    const fused = join(work, 'fused-bf16-3');
    const mixtralConfig = JSON.parse(readFileSync(join(fixtureDir('mixtral'), 'config.json'), 'utf8'));
    writeModelFolder(fused, mixtralConfig, toBf16(fuseExperts(readRawTensors(join(fixtureDir('mixtral'), 'model.safetensors')))), 3);
    const cases: Record<string, () => Promise<PrunedModelInput>> = {
      mixtral: async () => {
        const checkpoint = await openFixture('mixtral');
        const masks = randomMaskSet(checkpoint, ['experts.gate_up', 'experts.down', 'attn.q', 'attn.k', 'attn.v', 'attn.o']);
        return { checkpoint, masks, updatedWeights: updatedWeights(checkpoint, [1], ['experts.gate_up', 'attn.v'], []) };
      },
      'fused-bf16-sharded-dropped': async () => {
        const checkpoint = await openCheckpoint(new DirectoryFolder(fused));
        const masks = randomMaskSet(
          checkpoint,
          ['experts.gate_up', 'experts.down'],
          new Map([
            [0, [0, 6]],
            [1, [2, 3]],
          ]),
        );
        return { checkpoint, masks, updatedWeights: updatedWeights(checkpoint, [0, 1], ['experts.down'], []) };
      },
      ...Object.fromEntries(
        (['qwen2_moe', 'olmoe', 'granitemoe'] as FixtureName[]).map((name) => [
          name,
          async () => {
            const checkpoint = await openFixture(name);
            const shared = checkpoint.spec.sharedExpert ? (['shared.gate_up', 'shared.down'] as const) : [];
            return { checkpoint, masks: randomMaskSet(checkpoint, ['experts.gate_up', 'experts.down', 'attn.o', ...shared], new Map(), 5) };
          },
        ]),
      ),
    };
    const hashes: Record<string, Record<string, string>> = {};
    for (const [name, make] of Object.entries(cases)) hashes[name] = await exportHashes(await make());
    if (process.env.PRINT_EXPORT_HASHES) console.log(JSON.stringify(hashes, null, 2));
    expect(hashes).toEqual(GOLDEN);
  });
});

/** SHA-256 of every exported file, from the export at commit fd32914 (before reads and updated weights were bounded). */
const GOLDEN: Record<string, Record<string, string>> = {
  'fused-bf16-sharded-dropped': {
    'config.json': '1fd3febbe326c18f4f8f86cc7c8871a29c7294d966df92037e4e0409b2986c56',
    'model-00001-of-00003.safetensors': '0fe6b8d7abdb15f8290584c5b51906f7eaa9cebd253b06534863f1186871f01d',
    'model-00002-of-00003.safetensors': 'ba61b3126143fdb26c9dd02921c0c99ffe62609acec446a7f61cbac582af08b3',
    'model-00003-of-00003.safetensors': '4081f08aa4732ee144c210522f871b3ac943587edcd47679f6f000f24467ed9e',
    'model.safetensors.index.json': 'e78c883c386e00ea5f9008cf2900c33c588cf388b95072787ab1078b02b67058',
  },
  granitemoe: {
    'config.json': 'ebb6df5d883c67b42e57360d0b9dd2cc9aba78dbffd9aafc7f6ae09ed22c68e2',
    'generation_config.json': 'b1a85db093320bbd1ef48970da77c5e1f5aeeee1a82bee306caf076d9befcde5',
    'model.safetensors': '83a1de6768f5b59920e88edb0af52ddb731ce49c769f789f622345973ed0980c',
  },
  mixtral: {
    'config.json': '024e3fe760e789e3bdfdb97a2d26244dde2edc0aae95bf41350bc663ad93d19e',
    'generation_config.json': 'b1a85db093320bbd1ef48970da77c5e1f5aeeee1a82bee306caf076d9befcde5',
    'model.safetensors': 'ee011214568afc9e94bc2c5bc4a208f96f7c8cade8dccd0d8796515e455c6f93',
  },
  olmoe: {
    'config.json': 'fc93b235a72ccbfd545034fac09b9f78a70883dbf7997496eff976b16a83cfd8',
    'generation_config.json': '1ed3d3c5287687ed2ec6614c3ccf017b06a07f51c1dbe48686b6ebd8774e7620',
    'model.safetensors': '9c18dd22dce4556695157fccbd73d404c249ab02d0eb3752c51dd8764cf57d54',
  },
  qwen2_moe: {
    'config.json': '04ccb4487fbdac22c420b3723047fab16633fa59828695a319e9a9fb42c3885c',
    'generation_config.json': 'b5185f2a7e71e25305bfe630caa7015f44ca1cbaf99f7c8028a39cd4c8d99f54',
    'model.safetensors': 'ad1c8f8fd3a5d61aaa1d1f132b34b728090e83cc31e935e197f1a5884798e82d',
  },
};
