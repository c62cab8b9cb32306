/**
 * Acceptance: a GPTQ-format export reloads in the lab with the in-lab quantized perplexity to 1e-4. The lab
 * quantizes the mixtral fixture's routed experts (RTN 4-bit; GPTQ 3-bit; mixed precision at 3 average bits), its
 * quantized perplexity is measured as the lab runs it (dequantized in a shader), the quantized model is written in
 * the GPTQ layout, and `moe-lab ppl --ids` on that folder gives the same perplexity.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import type { QuantizeSettings } from '../../src/engine/quantize/settings.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { runCli } from '../helpers/cli.ts';
import { fixtureDir, openFixture, readFixtureReference } from '../helpers/fixtures.ts';
import { writeGptqExport } from '../helpers/gptq.ts';
import { gpu } from './gpu-context.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const FIXTURE = 'mixtral';
const dir = scratchDir('moe-lab-gptq-lab-');
let service: LabService | null = null;

const CASES: { name: string; settings: Partial<QuantizeSettings> }[] = [
  { name: 'RTN 4-bit', settings: { method: 'rtn', bits: 4 } },
  { name: 'GPTQ 3-bit', settings: { method: 'gptq', bits: 3 } },
  { name: 'mixed precision, 3 bits on average', settings: { method: 'rtn', bits: null, avgBits: 3 } },
];

describe('in-lab quantization -> GPTQ export -> reload', () => {
  it.each(CASES)('$name: the reloaded export has the in-lab quantized perplexity to 1e-4', async ({ name, settings }) => {
    const { inputIds } = await readFixtureReference(FIXTURE);
    // One service for the file: it shares the test GPU context, which disposing a service would destroy.
    service ??= new LabService({
      assetBase: 'http://lab.test/',
      fetch: async () => new Response('', { status: 404 }),
      openGpu: gpu,
      openCache: async () => null,
    });
    await service.loadFolder(await directoryFolder(fixtureDir(FIXTURE)));
    const full: QuantizeSettings = { method: 'rtn', bits: 4, avgBits: null, groupSize: 32, allocation: 'knapsack', damp: 0.01, ...settings };
    await service.quantizeWithSettings(full, null, { windows: [inputIds] });
    const inLab = (await service.quantizedPerplexityOfIds({ ids: inputIds, ctx: inputIds.length, stride: inputIds.length })).ppl;
    const out = join(dir, name.replace(/\W+/g, '-'));
    await writeGptqExport(await openFixture(FIXTURE), await service.quantizedModel(), out);
    const ids = join(dir, 'ids.json');
    writeFileSync(ids, JSON.stringify(inputIds));
    const r = await runCli(['ppl', '--model', out, '--ids', ids, '--json']);
    expect(r.err).toEqual([]);
    const reloaded = (JSON.parse(r.out[0]) as { ppl: number }).ppl;
    expect(Math.abs(reloaded - inLab) / inLab).toBeLessThanOrEqual(1e-4);
  });
});
