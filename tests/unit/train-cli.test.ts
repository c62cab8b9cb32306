/** `moe-lab train` refuses bad input with one line before touching the GPU, and the default recipe's warm start reads its source folder (the run itself: docs/training.md). */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { warmStartFromFolder } from '../../src/cli/commands/train.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { paramLayout } from '../../src/engine/train/config.ts';
import { DEFAULT_RECIPE } from '../../src/engine/train/recipe.ts';
import { tempDir } from '../helpers/safetensors-bytes.ts';

const temp = tempDir('moe-lab-train-');
afterAll(() => temp.remove());

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
    const { code, err } = await runInProcess(['train', '--out', join(temp.dir, 'run'), '--corpus', join(temp.dir, 'nowhere')]);
    expect(code).toBe(1);
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toMatch(/nowhere.*train\.index\.json|tokenizer\.json/);
  });

  it('refuses to overwrite a state without --resume', async () => {
    const out = join(temp.dir, 'existing');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'state.safetensors'), 'x');
    const { code, err } = await runInProcess(['train', '--out', out]);
    expect(code).toBe(2);
    expect(err).toMatch(/pass --resume/);
  });

  it('refuses a state file that is not a training state', async () => {
    const out = join(temp.dir, 'broken');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'state.safetensors'), 'not a safetensors file');
    const { code, err } = await runInProcess(['train', '--out', out, '--resume']);
    expect(code).toBe(1);
    expect(err).toMatch(/state\.safetensors/);
  });
});

describe("DEFAULT_RECIPE's warm start", () => {
  it('reads its source folder into the split layout (router rows times routerScale), and names a missing folder', async () => {
    const params = (await warmStartFromFolder(DEFAULT_RECIPE))!;
    const w = DEFAULT_RECIPE.warmStart!;
    const layout = paramLayout(DEFAULT_RECIPE.model);
    expect(params).toHaveLength(layout.count);
    const path = join(w.model, 'model.safetensors');
    const source = new MemoryByteSource(path, new Uint8Array(readFileSync(path)));
    const info = (await readSafetensorsHeader(source)).tensors.get('model.layers.2.block_sparse_moe.gate.weight')!;
    const H = DEFAULT_RECIPE.model.hiddenSize;
    const row = bytesToFloat32(info, await readTensorBytes(source, info)).subarray(3 * H, 4 * H);
    // Expert 3's second part in layer 2.
    const part = layout.layers[2].router.offset + (3 * w.splitExperts + 1) * H;
    expect(Array.from(params.subarray(part, part + H))).toEqual(Array.from(row, (v) => Math.fround(w.routerScale * v)));
    const missing = { ...DEFAULT_RECIPE, warmStart: { ...w, model: join(temp.dir, 'none') } };
    await expect(warmStartFromFolder(missing)).rejects.toThrow(/none.*model\.safetensors.*not found/);
  });
});
