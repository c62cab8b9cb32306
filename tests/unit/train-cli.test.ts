/** `moe-lab train` refuses bad input with one line before touching the GPU (the run itself: docs/training.md). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
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
