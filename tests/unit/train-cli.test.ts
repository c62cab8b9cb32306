/** `moe-lab train` refuses bad input with one line before touching the GPU, and the default recipe's warm start reads its source folder (the run itself: docs/training.md). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { warmStartFromFolder } from '../../src/cli/commands/train.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { paramLayout } from '../../src/engine/train/config.ts';
import { routerScaleOf } from '../../src/engine/train/init.ts';
import { BROWN_QMOE128_3M_RECIPE, DEFAULT_RECIPE } from '../../src/engine/train/recipe.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const scratch = scratchDir('moe-lab-train-');

async function runInProcess(argv: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const code = await main(argv, { out: () => {}, err: (t) => err.push(t) });
  return { code, err: err.join('\n') };
}

describe('moe-lab train: input errors', () => {
  it('needs --out', async () => {
    const { code, err } = await runInProcess(['train']);
    expect(code).toBe(2);
    expect(err).toMatch(/--out is required/);
  });

  it('names the missing corpus file and says how to make it', async () => {
    const { code, err } = await runInProcess(['train', '--out', join(scratch, 'run'), '--corpus', join(scratch, 'nowhere')]);
    expect(code).toBe(1);
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toMatch(/nowhere.*train\.index\.json|tokenizer\.json/);
  });

  it('refuses to overwrite a state without --resume', async () => {
    const out = join(scratch, 'existing');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'state.safetensors'), 'x');
    const { code, err } = await runInProcess(['train', '--out', out]);
    expect(code).toBe(2);
    expect(err).toMatch(/pass --resume/);
  });

  it('refuses a state file that is not a training state', async () => {
    const out = join(scratch, 'broken');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'state.safetensors'), 'not a safetensors file');
    const { code, err } = await runInProcess(['train', '--out', out, '--resume']);
    expect(code).toBe(1);
    expect(err).toMatch(/state\.safetensors/);
  });
});

describe("the shipped recipes' warm starts", () => {
  it('brown-qmoe128-3m reads its source folder into the split layout (router rows perturbed, times routerScale), and names a missing folder', async () => {
    const params = (await warmStartFromFolder(BROWN_QMOE128_3M_RECIPE))!;
    const w = BROWN_QMOE128_3M_RECIPE.warmStart!;
    const layout = paramLayout(BROWN_QMOE128_3M_RECIPE.model);
    expect(params).toHaveLength(layout.count);
    const path = join(w.model, 'model.safetensors');
    const source = new MemoryByteSource(path, new Uint8Array(readFileSync(path)));
    const info = (await readSafetensorsHeader(source)).tensors.get('model.layers.2.mlp.gate.weight')!;
    const H = BROWN_QMOE128_3M_RECIPE.model.hiddenSize;
    const row = bytesToFloat32(info, await readTensorBytes(source, info)).subarray(3 * H, 4 * H);
    // Expert 3's parts in layer 2: without noise each is the parent's row times routerScale.
    const partRow = (values: Float32Array, part: number) => {
      const at = layout.layers[2].router.offset + (3 * w.splitExperts + part) * H;
      return Array.from(values.subarray(at, at + H));
    };
    const { routerNoise, ...plain } = w;
    const unperturbed = (await warmStartFromFolder({ ...BROWN_QMOE128_3M_RECIPE, warmStart: plain }))!;
    expect(partRow(unperturbed, 1)).toEqual(Array.from(row, (v) => Math.fround(routerScaleOf(w, 2) * v)));
    // With the recipe's noise each part's row is the parent's plus its own N(0, (std * sd(row))^2), then scaled;
    // nothing else changes, and the same seed gives the same parameters.
    expect(routerNoise).toBeDefined();
    const sd = (x: number[]) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length - (x.reduce((a, v) => a + v, 0) / x.length) ** 2);
    const noiseOf = (part: number) => partRow(params, part).map((v, h) => v / routerScaleOf(w, 2) - row[h]);
    for (const part of [0, 1]) expect(sd(noiseOf(part)) / (routerNoise!.std * sd(Array.from(row)))).toBeGreaterThan(0.7);
    for (const part of [0, 1]) expect(sd(noiseOf(part)) / (routerNoise!.std * sd(Array.from(row)))).toBeLessThan(1.3);
    expect(partRow(params, 0)).not.toEqual(partRow(params, 1));
    const routerOf = (i: number) => layout.layers.some((l) => i >= l.router.offset && i < l.router.offset + l.router.size);
    expect(params.findIndex((v, i) => v !== unperturbed[i] && !routerOf(i))).toBe(-1);
    const missing = { ...BROWN_QMOE128_3M_RECIPE, warmStart: { ...w, model: join(scratch, 'none') } };
    await expect(warmStartFromFolder(missing)).rejects.toThrow(/none.*model\.safetensors.*not found/);
  });

  it("the default's warm start is brown-qmoe128-3m with each layer's router times its factor, nothing else changed", async () => {
    const w = DEFAULT_RECIPE.warmStart!;
    expect(w.splitExperts).toBe(1);
    const params = (await warmStartFromFolder(DEFAULT_RECIPE))!;
    const plain = (await warmStartFromFolder({ ...DEFAULT_RECIPE, warmStart: { ...w, routerScale: 1 } }))!;
    const layout = paramLayout(DEFAULT_RECIPE.model);
    for (const [l, { router: r }] of layout.layers.entries()) {
      const expected = Array.from(plain.subarray(r.offset, r.offset + r.size), (v) => Math.fround(routerScaleOf(w, l) * v));
      expect(Array.from(params.subarray(r.offset, r.offset + r.size)), `layer ${l}`).toEqual(expected);
    }
    const routerOf = (i: number) => layout.layers.some((l) => i >= l.router.offset && i < l.router.offset + l.router.size);
    expect(params.findIndex((v, i) => v !== plain[i] && !routerOf(i))).toBe(-1);
    expect(layout.layers.map((_, l) => routerScaleOf(w, l))).toEqual([1, 1, 1.6, 2.2]);
  });
});
