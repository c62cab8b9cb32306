/**
 * Canonical expert tensors (gate_up [E, 2I, H] with each expert's gate rows first, down [E, H, I]) assembled from
 * every stored layout, byte for byte against the fixtures' own tensors, and the inverse back to the checkpoint's
 * names and layout.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { checkpointExpertTensors, planCanonicalExperts, readCanonicalExperts } from '../../src/engine/model/expert-layout.ts';
import { FIXTURES, fixtureDir, openFixture, type FixtureName } from '../helpers/fixtures.ts';
import {
  concatBytes,
  firstByteDifference,
  fuseExperts,
  rawTensor,
  readRawTensors,
  toBf16,
  writeModelFolder,
  type RawTensor,
} from '../helpers/checkpoint-files.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const scratch = scratchDir();

const tensorsOf = (name: FixtureName) => readRawTensors(join(fixtureDir(name), 'model.safetensors'));
const configOf = (name: FixtureName) => JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8')) as object;

/** The expected canonical bytes, built straight from the per-expert tensors of the file. */
function expectedCanonical(tensors: RawTensor[], layer: number, numExperts: number, prefix: string, [gate, up, down]: string[]) {
  const t = (e: number, proj: string) => rawTensor(tensors, `model.layers.${layer}.${prefix}.experts.${e}.${proj}.weight`).data;
  const experts = Array.from({ length: numExperts }, (_, e) => e);
  return { gateUp: concatBytes(...experts.flatMap((e) => [t(e, gate), t(e, up)])), down: concatBytes(...experts.map((e) => t(e, down))) };
}

const PER_EXPERT: Record<Exclude<FixtureName, 'granitemoe'>, [string, string[]]> = {
  mixtral: ['block_sparse_moe', ['w1', 'w3', 'w2']],
  phimoe: ['block_sparse_moe', ['w1', 'w3', 'w2']],
  qwen2_moe: ['mlp', ['gate_proj', 'up_proj', 'down_proj']],
  qwen3_moe: ['mlp', ['gate_proj', 'up_proj', 'down_proj']],
  olmoe: ['mlp', ['gate_proj', 'up_proj', 'down_proj']],
};

describe('canonical expert tensors', () => {
  for (const name of Object.keys(PER_EXPERT) as (keyof typeof PER_EXPERT)[]) {
    it(`${name}: per-expert tensors stacked byte for byte, one expert matrix per copy`, async () => {
      const checkpoint = await openFixture(name);
      const tensors = tensorsOf(name);
      const [prefix, projections] = PER_EXPERT[name];
      for (const layer of [0, 1]) {
        const canonical = await readCanonicalExperts(checkpoint, layer);
        const expected = expectedCanonical(tensors, layer, checkpoint.spec.numExperts, prefix, projections);
        expect(canonical.dtype).toBe('F32');
        expect(firstByteDifference(canonical.gateUp, expected.gateUp), `layer ${layer} gate_up`).toBe(-1);
        expect(firstByteDifference(canonical.down, expected.down), `layer ${layer} down`).toBe(-1);
      }
      const { expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
      const plan = planCanonicalExperts(checkpoint, 0);
      expect(Math.max(...plan.copies.map((c) => c.byteLength))).toBe(I * H * 4);
      // Per target, the copies tile it front to back with no gap (the GPU loader appends them in order).
      for (const target of ['gateUp', 'down'] as const) {
        const copies = plan.copies.filter((c) => c.target === target);
        const ends = copies.reduce((end, c) => (expect(c.targetOffset).toBe(end), end + c.byteLength), 0);
        expect(ends).toBe(target === 'gateUp' ? plan.gateUpBytes : plan.downBytes);
      }
    });
  }

  it('granitemoe: input_linear / output_linear are already canonical', async () => {
    const checkpoint = await openFixture('granitemoe');
    const tensors = tensorsOf('granitemoe');
    const canonical = await readCanonicalExperts(checkpoint, 1);
    expect(firstByteDifference(canonical.gateUp, rawTensor(tensors, 'model.layers.1.block_sparse_moe.input_linear.weight').data)).toBe(-1);
    expect(firstByteDifference(canonical.down, rawTensor(tensors, 'model.layers.1.block_sparse_moe.output_linear.weight').data)).toBe(-1);
  });

  it('a transformers 5 fused copy gives the same bytes as the per-expert original, in bf16 too', async () => {
    for (const [i, convert] of [(t: RawTensor[]) => t, toBf16].entries()) {
      const dir = join(scratch, `fused-${i}`);
      writeModelFolder(dir, configOf('qwen2_moe'), fuseExperts(convert(tensorsOf('qwen2_moe'))));
      const perExpertDir = join(scratch, `per-expert-${i}`);
      writeModelFolder(perExpertDir, configOf('qwen2_moe'), convert(tensorsOf('qwen2_moe')));
      const fused = await openCheckpoint(new DirectoryFolder(dir));
      const perExpert = await openCheckpoint(new DirectoryFolder(perExpertDir));
      for (const layer of [0, 1]) {
        const a = await readCanonicalExperts(fused, layer);
        const b = await readCanonicalExperts(perExpert, layer);
        expect(a.dtype).toBe(i === 0 ? 'F32' : 'BF16');
        expect([firstByteDifference(a.gateUp, b.gateUp), firstByteDifference(a.down, b.down)]).toEqual([-1, -1]);
      }
    }
  });

  it('refuses a layer whose experts mix dtypes, naming the tensor', async () => {
    const tensors = tensorsOf('mixtral');
    const mixed = tensors.map((t) => (t.name === 'model.layers.0.block_sparse_moe.experts.3.w2.weight' ? toBf16([t])[0] : t));
    const dir = join(scratch, 'mixed');
    writeModelFolder(dir, configOf('mixtral'), mixed);
    const checkpoint = await openCheckpoint(new DirectoryFolder(dir));
    expect(() => planCanonicalExperts(checkpoint, 0)).toThrow(ModelFileError);
    expect(() => planCanonicalExperts(checkpoint, 0)).toThrow(/experts\.3\.w2\.weight is BF16/);
  });
});

describe('canonical -> the checkpoint layout (for export)', () => {
  for (const name of FIXTURES) {
    it(`${name}: gives back the stored names, shapes and bytes`, async () => {
      const checkpoint = await openFixture(name);
      const tensors = tensorsOf(name);
      for (const layer of [0, 1]) {
        const back = checkpointExpertTensors(checkpoint.spec, checkpoint.names.layers[layer].experts!, await readCanonicalExperts(checkpoint, layer));
        expect(back.length).toBe(name === 'granitemoe' ? 2 : 3 * checkpoint.spec.numExperts);
        for (const t of back) {
          const stored = rawTensor(tensors, t.name);
          expect([t.dtype, t.shape]).toEqual([stored.dtype, stored.shape]);
          expect(firstByteDifference(t.data, stored.data), t.name).toBe(-1);
        }
      }
    });
  }

  it('gives back the fused names and layout for a fused checkpoint', async () => {
    const dir = join(scratch, 'fused-export');
    const fusedTensors = fuseExperts(tensorsOf('olmoe'));
    writeModelFolder(dir, configOf('olmoe'), fusedTensors);
    const checkpoint = await openCheckpoint(new DirectoryFolder(dir));
    const back = checkpointExpertTensors(checkpoint.spec, checkpoint.names.layers[1].experts!, await readCanonicalExperts(checkpoint, 1));
    expect(back.map((t) => [t.name, t.shape])).toEqual([
      ['model.layers.1.mlp.experts.gate_up_proj', [8, 64, 64]],
      ['model.layers.1.mlp.experts.down_proj', [8, 64, 32]],
    ]);
    expect(firstByteDifference(back[0].data, rawTensor(fusedTensors, back[0].name).data)).toBe(-1);
  });
});
