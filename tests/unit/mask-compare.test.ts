/**
 * compare-masks (src/engine/prune/mask-compare.ts, src/cli/commands/compare-masks.ts): the disagreement of two mask
 * sets against an element-by-element count, dropped experts counting as wholly pruned, per expert blocks, and the
 * CLI's refusals (not a masks file, masks of other shapes, wrong argument count).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliText as run } from '../helpers/cli.ts';
import { writeSafetensors } from '../../src/engine/io/safetensors.ts';
import { allKeptMask, isKept, type MaskSet, type MatrixKey } from '../../src/engine/model/mask-set.ts';
import { compareMaskSets } from '../../src/engine/prune/mask-compare.ts';
import { canonicalElements } from '../../src/engine/prune/layer-plan.ts';
import { masksToSafetensors } from '../../src/engine/prune/masks-file.ts';
import { createRng } from '../../src/engine/random.ts';
import { openFixture } from '../helpers/fixtures.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

function randomMask(elements: number, seed: number, pruneShare: number): Uint32Array {
  const rng = createRng(seed);
  const mask = allKeptMask(elements);
  for (let i = 0; i < elements; i++) if (rng.next() < pruneShare) mask[i >>> 5] &= ~(1 << (i & 31));
  return mask;
}

describe('compareMaskSets', () => {
  it('counts pruned-in-A, in-B and in-both element by element, per matrix, expert and layer', async () => {
    const { spec } = await openFixture('qwen2_moe');
    const E = spec.numExperts;
    const keys: MatrixKey[] = ['experts.gate_up', 'experts.down', 'attn.q'];
    const a: MaskSet = { layers: [{ matrices: Object.fromEntries(keys.map((k, i) => [k, randomMask(canonicalElements(spec, k), i, 0.5)])) }, null] };
    const b: MaskSet = {
      layers: [
        {
          // attn.q dense in B; expert 1 dropped in B.
          matrices: Object.fromEntries(keys.slice(0, 2).map((k, i) => [k, randomMask(canonicalElements(spec, k), 10 + i, 0.3)])),
          expertEnabled: Uint8Array.from({ length: E }, (_, e) => (e === 1 ? 0 : 1)),
        },
        null,
      ],
    };
    const shapes = { elements: (_: number, k: MatrixKey) => canonicalElements(spec, k), numExperts: E };
    const result = compareMaskSets(a, b, shapes);
    const perExpert = Array.from({ length: E }, () => ({ a: 0, b: 0, both: 0, n: 0 }));
    for (const key of keys) {
      const n = canonicalElements(spec, key);
      let pa = 0;
      let pb = 0;
      let both = 0;
      for (let i = 0; i < n; i++) {
        const expert = key.startsWith('experts') ? Math.floor(i / (n / E)) : -1;
        const prunedA = !isKept(a.layers[0]!.matrices[key]!, i);
        const maskB = b.layers[0]!.matrices[key];
        const prunedB = expert === 1 || (maskB ? !isKept(maskB, i) : false);
        pa += +prunedA;
        pb += +prunedB;
        both += +(prunedA && prunedB);
        if (expert >= 0) {
          const row = perExpert[expert];
          row.n++;
          row.a += +prunedA;
          row.b += +prunedB;
          row.both += +(prunedA && prunedB);
        }
      }
      const got = result.matrices.find((m) => m.key === key)!;
      expect(got, key).toMatchObject({ layer: 0, elements: n, prunedA: pa, prunedB: pb, both, onlyA: pa - both, onlyB: pb - both });
      expect(got.disagreement).toBeCloseTo((pa + pb - 2 * both) / (pa + pb), 12);
    }
    expect(result.experts).toHaveLength(E);
    result.experts.forEach((x, e) =>
      expect(x).toMatchObject({ expert: e, elements: perExpert[e].n, prunedA: perExpert[e].a, prunedB: perExpert[e].b, both: perExpert[e].both }),
    );
    expect(result.experts[1].prunedB).toBe(result.experts[1].elements);
    expect(result.layers).toHaveLength(1);
    expect(result.overall.prunedA).toBe(result.matrices.reduce((n, m) => n + m.prunedA, 0));
  });

  it('is 0 for identical masks and 1 for complementary ones', async () => {
    const { spec } = await openFixture('qwen2_moe');
    const n = canonicalElements(spec, 'experts.down');
    const m = randomMask(n, 3, 0.5);
    const complement = Uint32Array.from(m, (w) => ~w >>> 0);
    complement[complement.length - 1] &= allKeptMask(n)[complement.length - 1];
    const set = (mask: Uint32Array): MaskSet => ({ layers: [{ matrices: { 'experts.down': mask } }, null] });
    const shapes = { elements: () => n, numExperts: spec.numExperts };
    expect(compareMaskSets(set(m), set(m), shapes).overall.disagreement).toBe(0);
    expect(compareMaskSets(set(m), set(complement), shapes).overall.disagreement).toBe(1);
  });
});

describe('moe-lab compare-masks', () => {
  it('prints the comparison as JSON, per expert with --model, and refuses what is not a pair of matching masks files', async () => {
    const { spec } = await openFixture('qwen2_moe');
    const dir = scratchDir('compare-masks-');
    const n = canonicalElements(spec, 'experts.down');
    const fileOf = async (name: string, masks: MaskSet, method: string) => {
      const path = join(dir, name);
      await writeFile(path, masksToSafetensors(spec, masks, { method, model_hash: 'h' }));
      return path;
    };
    const a = await fileOf('a.safetensors', { layers: [{ matrices: { 'experts.down': randomMask(n, 1, 0.5) } }, null] }, 'wanda');
    const b = await fileOf('b.safetensors', { layers: [{ matrices: { 'experts.down': randomMask(n, 2, 0.5) } }, null] }, 'moe-pruner');
    const plain = await run(['compare-masks', a, b, '--json']);
    expect(plain.code, plain.err).toBe(0);
    const report = JSON.parse(plain.out);
    expect(report.a).toEqual({ file: a, method: 'wanda' });
    expect(report.overall.elements).toBe(n);
    expect(report.overall.disagreement).toBeGreaterThan(0.3);
    expect(report.experts).toEqual([]);
    const withModel = await run(['compare-masks', a, b, '--model', 'tests/fixtures/hf-tiny/qwen2_moe', '--json']);
    expect(withModel.code, withModel.err).toBe(0);
    expect(JSON.parse(withModel.out).experts).toHaveLength(spec.numExperts);
    const text = await run(['compare-masks', a, b]);
    expect(text.out).toMatch(/^wanda vs moe-pruner: disagree on \d+\.\d\d% of pruned weights/);

    const other = join(dir, 'other.safetensors');
    await writeFile(
      other,
      writeSafetensors([{ name: 'layers.0.experts.down', dtype: 'U8', shape: [4], data: new Uint8Array(4) }], {
        format: 'moe-lab-masks/1',
        'layers.0.experts.down.elements': '32',
      }),
    );
    const mismatch = await run(['compare-masks', a, other]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.err).toMatch(/layers\.0\.experts\.down has \d+ elements in .*a\.safetensors and 32 in .*other\.safetensors/);
    const notMasks = join(dir, 'stats.safetensors');
    await writeFile(notMasks, writeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Uint8Array(4) }], { format: 'pt' }));
    const refused = await run(['compare-masks', a, notMasks]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/stats\.safetensors.*not a masks file/);
    expect((await run(['compare-masks', a])).code).toBe(2);
  });
});
