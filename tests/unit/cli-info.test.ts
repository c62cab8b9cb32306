/**
 * `moe-lab info`: in-process on the six fixtures (the --json fields, parameter counts against the tensors really
 * in the file), and as a spawned command on hostile safetensors files: a non-zero exit, exactly one stderr line
 * that names the file, within seconds.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCliText as runInProcess } from '../helpers/cli.ts';
import { FIXTURES, FIXTURES_B, fixtureDir } from '../helpers/fixtures.ts';
import { concatBytes, copyFixtureFolder, readRawTensors } from '../helpers/checkpoint-files.ts';
import { headerTextOf, safetensorsBytes } from '../helpers/safetensors-bytes.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const scratch = scratchDir('moe-lab-cli-');

describe('moe-lab info (in-process)', () => {
  for (const name of [...FIXTURES, ...FIXTURES_B]) {
    it(`${name}: --json reports architecture, shape, dtype and the parameter counts of the file`, async () => {
      const { code, out, err } = await runInProcess(['info', '--model', fixtureDir(name), '--json']);
      expect([code, err]).toEqual([0, '']);
      const report = JSON.parse(out);
      const config = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8'));
      expect(report).toMatchObject({
        architecture: name.replace('_nogroup', ''),
        layers: config.num_hidden_layers,
        experts: config.num_experts ?? config.num_local_experts ?? config.n_routed_experts,
        topK: config.num_experts_per_tok,
        hidden: config.hidden_size,
        dtype: 'f32',
        files: ['model.safetensors'],
      });
      // Counts from the spec must equal what the checkpoint holds.
      const tensors = readRawTensors(join(fixtureDir(name), 'model.safetensors'));
      const count = (keep: (n: string) => boolean) => tensors.filter((t) => keep(t.name)).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
      const isExpert = (n: string) => (/\.experts\./.test(n) && !n.includes('shared')) || /_linear\.weight$/.test(n);
      const expert = count(isExpert);
      expect(report.parameters.total).toBe(count(() => true));
      expect(report.parameters.expert).toBe(expert);
      expect(report.parameters.active).toBe(report.parameters.total - expert + (expert * report.topK) / report.experts);
    });
  }

  it('prints a readable summary without --json, and usage errors exit 2', async () => {
    const text = await runInProcess(['info', '--model', fixtureDir('phimoe')]);
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/phimoe, 2 layers \(2 MoE\), 8 experts, top-2/);
    expect((await runInProcess(['info'])).code).toBe(2);
    expect((await runInProcess(['info', '--model'])).code).toBe(2);
  });
});

/** Writes a model folder whose model.safetensors is `bytes` (with the mixtral fixture's config.json). */
function hostileFolder(label: string, bytes: Uint8Array): string {
  const dir = join(scratch, label);
  copyFixtureFolder(fixtureDir('mixtral'), dir);
  writeFileSync(join(dir, 'model.safetensors'), bytes);
  return dir;
}

/** The fixture's real header with one tensor entry changed, over the fixture's real data. */
function editedFixture(edit: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): Uint8Array {
  const file = join(fixtureDir('mixtral'), 'model.safetensors');
  const header = JSON.parse(headerTextOf(file));
  edit(header);
  const original = readFileSync(file);
  const data = original.subarray(8 + Number(original.readBigUInt64LE(0)));
  return concatBytes(safetensorsBytes(JSON.stringify(header)), data);
}

const fixtureBytes = () => new Uint8Array(readFileSync(join(fixtureDir('mixtral'), 'model.safetensors')));
const HOSTILE: [string, () => Uint8Array][] = [
  ['header-length-2^62', () => safetensorsBytes('{}', 0, 2n ** 62n)],
  ['truncated-data', () => fixtureBytes().subarray(0, fixtureBytes().byteLength - 100)],
  ['non-json-header', () => safetensorsBytes('{"lm_head.weight": {"dtype": F32}}')],
  ['overlapping-tensors', () => editedFixture((h) => (h['model.norm.weight'].data_offsets = [0, 256]))],
  ['shape-not-matching-bytes', () => editedFixture((h) => (h['lm_head.weight'].shape = [512, 65]))],
  ['unknown-dtype', () => editedFixture((h) => (h['model.norm.weight'].dtype = 'F33'))],
  ['empty-file', () => new Uint8Array(0)],
];

const BIN = fileURLToPath(new URL('../../bin/moe-lab.mjs', import.meta.url));

function spawnInfo(dir: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, 'info', '--model', dir], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr, ms: performance.now() - start });
    });
  });
}

describe('moe-lab info on hostile safetensors (spawned)', () => {
  for (const [label, make] of HOSTILE) {
    it(`${label}: non-zero exit, one stderr line naming the file, no hang (killed after 20 s)`, async () => {
      const dir = hostileFolder(label, make());
      const { code, stdout, stderr, ms } = await spawnInfo(dir);
      expect(code, stderr).not.toBe(0);
      expect(code).not.toBeNull();
      expect(stdout).toBe('');
      const lines = stderr.trimEnd().split('\n');
      expect(lines, stderr).toHaveLength(1);
      expect(lines[0]).toContain(join(dir, 'model.safetensors'));
      expect(lines[0]).not.toMatch(/internal error/);
      console.info(`${label}: exit ${code}, ${ms.toFixed(0)} ms: ${lines[0]}`);
    });
  }

  it('a missing model folder: one line naming it', async () => {
    const dir = join(scratch, 'no-such-model');
    const { code, stderr } = await spawnInfo(dir);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toEqual([`moe-lab: ${dir}: no such folder`]);
  });
});
