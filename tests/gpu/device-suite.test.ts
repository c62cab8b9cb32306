/**
 * scripts/device-suite.mjs, the one prepared run a GPU machine gets (bench/README.md "On a GPU machine"): its bundles
 * build, and its dry run (--quick, tiny shapes) runs every step on this machine's driver and records each benchmark's
 * JSON, so that a GPU machine's few minutes are not spent finding a broken bundle or flag. Also: a missing bundle is
 * one clear error.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch-dir.ts';

// Inside the repository (build/ is ignored), so that the bundles resolve `webgpu` from node_modules.
const BUNDLES = 'build/device-suite-test';

function suite(args: string[]) {
  return spawnSync(process.execPath, ['scripts/device-suite.mjs', ...args], { encoding: 'utf8', timeout: 300_000 });
}

interface StepRecord {
  name: string;
  exitCode: number | null;
  timedOut: boolean;
  result: Record<string, unknown> | null;
  stderrTail: string;
}

describe('device suite', () => {
  it('bundles every benchmark and runs each in its dry run, recording its JSON', () => {
    rmSync(BUNDLES, { recursive: true, force: true });
    const bundled = suite(['bundle', '--dir', BUNDLES]);
    expect(bundled.status, bundled.stderr).toBe(0);
    const out = scratchDir('moe-lab-device-suite-');
    const ran = suite(['run', '--dir', BUNDLES, '--out', out, '--quick', '--budget', '280']);
    const report = JSON.parse(readFileSync(join(out, 'device-suite.json'), 'utf8')) as { quick: boolean; steps: StepRecord[] };
    expect(report.quick).toBe(true);
    for (const step of report.steps)
      expect({ step: step.name, exitCode: step.exitCode, timedOut: step.timedOut }, step.stderrTail).toEqual({ step: step.name, exitCode: 0, timedOut: false });
    expect(ran.status).toBe(0);
    const byName = Object.fromEntries(report.steps.map((s) => [s.name, s.result!]));
    expect(Object.keys(byName)).toEqual([
      'forward-granite',
      'prune-select',
      'prune-select-4words',
      'calibrate',
      'default-flow',
      'forward-profile-granite',
      'forward-granite-tile',
    ]);
    expect(byName['prune-select-4words'].rowWords).toBe(4);
    for (const m of byName['prune-select-4words'].results as { keptAsExpected: boolean }[]) expect(m.keptAsExpected).toBe(true);
    expect(byName['forward-granite'].tokensPerSecond).toBeGreaterThan(0);
    expect((byName['forward-granite-tile'].matrixKernels as { kind: string }).kind).toBe('tile');
    const masks = byName['prune-select'].results as { keptAsExpected: boolean }[];
    expect(masks.length).toBe(8); // 2 dtypes x (3 unstructured methods + 2:4)
    for (const m of masks) expect(m.keptAsExpected).toBe(true);
    expect(byName['default-flow'].samePerplexities).toBe(true);
    expect((byName['default-flow'].fastest as { prunedPpl: number }).prunedPpl).toBeGreaterThan(
      (byName['default-flow'].fastest as { densePpl: number }).densePpl,
    );
    expect(byName.calibrate.tokens).toBeGreaterThan(0);
  }, 360_000);

  it('names the missing bundles and exits 2 before running anything', () => {
    const out = scratchDir('moe-lab-device-suite-');
    const ran = suite(['run', '--dir', 'build/device-suite-none', '--out', out]);
    expect(ran.status).toBe(2);
    expect(ran.stderr).toMatch(/build\/device-suite-none\/forward\.mjs.* missing: run `node scripts\/device-suite\.mjs bundle` first/);
  });
});
