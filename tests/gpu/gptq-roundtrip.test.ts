/**
 * A GPTQ export reloads in the lab with the quantized model's perplexity: on fixture families the routed experts
 * (mixed bits; on mixtral also a 3-bit attention projection) are quantized, written in the GPTQ layout, and
 * `moe-lab ppl --ids` on the export equals `ppl` on the same quantized weights held as a plain folder in the
 * model's dtype (the lab's quantized forward reads exactly those), to 1e-4 relative — and differs from the dense
 * model's, so the quantization is really in force.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { runCli } from '../helpers/cli.ts';
import { fixtureDir, readFixtureReference, type FixtureName } from '../helpers/fixtures.ts';
import { rtnQuantizedModel, writeDequantizedFolder, writeGptqExport } from '../helpers/gptq.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const dir = scratchDir('moe-lab-gptq-');

async function ppl(model: string, ids: string): Promise<number> {
  const r = await runCli(['ppl', '--model', model, '--ids', ids, '--json']);
  expect(r.err).toEqual([]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.out[0]) as { ppl: number }).ppl;
}

const CASES: { name: FixtureName; attention: string[] }[] = [
  { name: 'mixtral', attention: ['model.layers.1.self_attn.q_proj.weight'] },
  { name: 'qwen2_moe', attention: [] },
];

describe('GPTQ export -> reload -> perplexity', () => {
  it.each(CASES)('$name: ppl of the reloaded GPTQ folder = ppl of the quantized weights to 1e-4', async ({ name, attention }) => {
    const source = fixtureDir(name);
    const checkpoint = await openCheckpoint(new DirectoryFolder(source));
    // 4-bit groups of 32, two matrices at 8 and 2 bits (mixed precision through `dynamic`).
    const quantized = await rtnQuantizedModel(checkpoint, {
      bits: 4,
      groupSize: 32,
      otherBits: new Map([
        [0, 8],
        [3, 2],
      ]),
      attention,
      attentionBits: 3,
    });
    const gptqDir = join(dir, `${name}-gptq`);
    const plainDir = join(dir, `${name}-dequantized`);
    await writeGptqExport(checkpoint, quantized, gptqDir);
    writeDequantizedFolder(JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')), join(source, 'model.safetensors'), quantized, plainDir);
    const ids = join(dir, `${name}-ids.json`);
    writeFileSync(ids, JSON.stringify((await readFixtureReference(name)).inputIds));
    const [reloaded, lab, dense] = [await ppl(gptqDir, ids), await ppl(plainDir, ids), await ppl(source, ids)];
    expect(Math.abs(reloaded - lab) / lab).toBeLessThanOrEqual(1e-4);
    expect(Math.abs(dense - lab) / lab).toBeGreaterThan(1e-4);
  });
});
