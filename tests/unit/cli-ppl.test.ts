/** `moe-lab ppl` / `moe-lab logits` input errors, caught before any GPU work: one line, exit 1 or 2. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

describe('moe-lab ppl / logits argument errors', () => {
  const dir = scratchDir('moe-lab-cli-ppl-');
  const model = fixtureDir('mixtral');
  const ids = join(dir, 'ids.json');
  writeFileSync(ids, JSON.stringify([1, 2, 3, 4]));

  it('needs exactly one of --ids and --text', async () => {
    for (const argv of [
      ['ppl', '--model', model],
      ['ppl', '--model', model, '--ids', ids, '--text', ids],
    ]) {
      const r = await run(argv);
      expect(r.code).toBe(2);
      expect(r.err[0].split('\n')[0]).toBe('moe-lab ppl: give exactly one of --ids and --text');
    }
  });

  it('checks --ctx, --stride and --max-tokens', async () => {
    const stride = await run(['ppl', '--model', model, '--ids', ids, '--ctx', '4', '--stride', '5']);
    expect(stride.code).toBe(2);
    expect(stride.err[0]).toMatch(/--stride must be an integer in 1\.\.4 \(got "5"\)/);
    const ctx = await run(['ppl', '--model', model, '--ids', ids, '--ctx', '1']);
    expect(ctx.err[0]).toMatch(/--ctx must be an integer in 2\.\./);
    const few = await run(['ppl', '--model', model, '--ids', ids, '--max-tokens', 'x']);
    expect(few.err[0]).toMatch(/--max-tokens must be an integer/);
  });

  it('names the ids file and the bad entry, and the missing tokenizer for --text', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '[1, 2, 512]');
    const r = await run(['ppl', '--model', model, '--ids', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`moe-lab: ${bad}: entry 2 (512) is not a token id in 0..511`]);
    const text = await run(['ppl', '--model', model, '--text', ids]);
    expect(text.code).toBe(1);
    expect(text.err[0]).toMatch(/mixtral\/tokenizer\.json: file not found \(--text needs the model tokenizer/);
    const logits = await run(['logits', '--model', model, '--ids', bad, '--out', join(dir, 'x.safetensors')]);
    expect(logits.code).toBe(1);
    expect(logits.err[0]).toMatch(/entry 2 \(512\)/);
    const missing = await run(['logits', '--model', model, '--ids', ids]);
    expect(missing.code).toBe(2);
    expect(missing.err[0].split('\n')[0]).toBe('moe-lab logits: --out is required');
  });
});
