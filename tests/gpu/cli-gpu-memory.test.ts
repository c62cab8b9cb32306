/**
 * The GPU memory budget on a real device: `moe-lab ppl --json` reports peakGpuBytes, at least the weights' bytes;
 * with --gpu-memory below what the run needs it stops with one line naming the buffer and the budget (exit 1);
 * with the measured peak as the budget the same run succeeds with the same perplexity.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { fixtureDir, readFixtureReference } from '../helpers/fixtures.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

describe('moe-lab --gpu-memory and peakGpuBytes', () => {
  it('mixtral fixture: the peak covers the weights; a budget below it refuses; the peak itself suffices', async () => {
    const ref = await readFixtureReference('mixtral');
    const ids = join(scratchDir('moe-lab-gpu-memory-'), 'ids.json');
    writeFileSync(ids, JSON.stringify(ref.inputIds));
    const model = fixtureDir('mixtral');
    const free = await run(['ppl', '--model', model, '--ids', ids, '--json']);
    expect(free.code).toBe(0);
    const report = JSON.parse(free.out[0]) as { ppl: number; peakGpuBytes: number };
    // f32 weights are uploaded as they are stored; the safetensors file is the weights plus a small header.
    const weights = statSync(join(model, 'model.safetensors')).size;
    expect(report.peakGpuBytes).toBeGreaterThan(weights * 0.9);

    const tight = await run(['ppl', '--model', model, '--ids', ids, '--json', '--gpu-memory', String(Math.floor(weights / 4))]);
    expect(tight.code).toBe(1);
    expect(tight.err).toHaveLength(1);
    expect(tight.err[0]).toMatch(/^moe-lab: .* needs .* more on the GPU, but the memory budget is .* are in use/);

    const exact = await run(['ppl', '--model', model, '--ids', ids, '--json', '--gpu-memory', String(report.peakGpuBytes)]);
    expect(exact.err).toEqual([]);
    const again = JSON.parse(exact.out[0]) as { ppl: number; peakGpuBytes: number };
    expect(again.ppl).toBe(report.ppl);
    expect(again.peakGpuBytes).toBe(report.peakGpuBytes);
  });
});
