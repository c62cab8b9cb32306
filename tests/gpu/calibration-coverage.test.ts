/**
 * `moe-lab calibrate --json` on tests/fixtures/lab-tiny: per layer the expert criteria side by side (equal to
 * layerCriteria of the statistics file it wrote), coverage with a warning on stderr when a calibration set is too
 * short to reach every expert with MIN_EXPERT_TOKENS tokens, and the new statistics (EAN, max |output|) in the file.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import { CRITERIA, layerCriteria, MIN_EXPERT_TOKENS } from '../../src/engine/calibration/expert-criteria.ts';
import { statsFromSafetensors } from '../../src/engine/calibration/stats.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const LAB_TINY = resolve('tests/fixtures/lab-tiny');
const dir = scratchDir('moe-lab-coverage-');

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join('\n'), err };
}

describe('calibrate: criteria and coverage', () => {
  it('warns about experts a short calibration set leaves under the threshold, and reports the criteria of its file', async () => {
    const ids = join(dir, 'short.json');
    writeFileSync(ids, JSON.stringify(Array.from({ length: 24 }, (_, i) => (i * 53 + 7) % 512)));
    const out = join(dir, 'stats.safetensors');
    const r = await run(['calibrate', '--model', LAB_TINY, '--ids', ids, '--out', out, '--json']);
    expect(r.code, r.err.join('\n')).toBe(0);
    const report = JSON.parse(r.out);
    // 24 tokens x top-2 over 8 experts: at most 48 assignments, so some expert gets under 32.
    expect(r.err.length).toBeGreaterThan(0);
    expect(r.err[0]).toMatch(new RegExp(`layer \\d+: experts .* got fewer than ${MIN_EXPERT_TOKENS} calibration tokens; their statistics are unreliable`));
    const { spec } = await openCheckpoint(await directoryFolder(LAB_TINY));
    const bytes = new Uint8Array(readFileSync(out));
    const stats = statsFromSafetensors(spec, await readSafetensorsHeader(new MemoryByteSource(out, bytes)), bytes);
    for (const layer of report.layers) {
      const s = stats.layers[layer.layer]!;
      expect(layer.lowCoverageExperts).toEqual(Array.from(s.expertTokens).flatMap((n, e) => (n < MIN_EXPERT_TOKENS ? [e] : [])));
      expect(layer.lowCoverageExperts.length).toBeGreaterThan(0);
      expect(layer.expertOutputAbsMax).toEqual(Array.from(s.expertOutputAbsMax));
      expect(Object.keys(layer.criteria.values)).toEqual([...CRITERIA]);
      expect(layer.criteria).toEqual(JSON.parse(JSON.stringify(layerCriteria(s, stats.tokens))));
      expect(Array.isArray(layer.superExperts)).toBe(true);
      // EAN >= REAP's numerator (gates are at most 1), and an expert with tokens has a positive max |output|.
      s.expertOutputNormSum.forEach((v, e) => expect(v).toBeGreaterThanOrEqual(s.expertOutputNormGatedSum[e]));
      s.expertTokens.forEach((n, e) => expect(s.expertOutputAbsMax[e] > 0).toBe(n > 0));
    }
  });
});
