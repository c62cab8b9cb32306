/**
 * `moe-lab ppl --masks M --compare`: KL(p_dense || p_pruned), top-1 agreement and the first disagreements equal a
 * plain f64 computation from the logits `moe-lab logits` writes for the dense and the masked model, window by window;
 * the pruned perplexity is `ppl --masks`'s and the dense one plain `ppl`'s, to the last digit; --compare without
 * --masks is a usage error.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { FileByteSource } from '../../src/cli/fs-folder.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { fidelityOfRows } from '../../src/engine/reference/eval/fidelity.ts';
import { fixtureDir, readFixtureReference } from '../helpers/fixtures.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

async function ok(argv: string[]): Promise<string> {
  const r = await run(argv);
  expect(r.err, argv.join(' ')).toEqual([]);
  expect(r.code).toBe(0);
  return r.out[0];
}

const dir = scratchDir('moe-lab-compare-');

/** `moe-lab logits` of one window, dense or under a masks file: [S, V]. */
async function cliLogits(model: string, ids: number[], name: string, masks?: string): Promise<Float32Array> {
  const idsFile = join(dir, `${name}-ids.json`);
  const out = join(dir, `${name}-logits.safetensors`);
  writeFileSync(idsFile, JSON.stringify(ids));
  await ok(['logits', '--model', model, '--ids', idsFile, '--out', out, ...(masks ? ['--masks', masks] : [])]);
  const source = new FileByteSource(out);
  const info = (await readSafetensorsHeader(source)).tensors.get('logits')!;
  return bytesToFloat32(info, await readTensorBytes(source, info));
}

describe('moe-lab ppl --compare', () => {
  it('mixtral at 50% magnitude with 2 experts dropped: equals the CPU computation from both models logits', async () => {
    const model = fixtureDir('mixtral');
    const ids = (await readFixtureReference('mixtral')).inputIds; // 96 tokens: 3 windows of 32
    const S = 32;
    const idsFile = join(dir, 'ids.json');
    writeFileSync(idsFile, JSON.stringify(ids));
    // Expert dropping by routing frequency needs calibration: the same tokens.
    const pruned = join(dir, 'pruned');
    await ok([
      'prune',
      '--model',
      model,
      '--method',
      'magnitude',
      '--sparsity',
      '0.5',
      '--experts-drop',
      '2',
      '--ids',
      idsFile,
      '--out',
      pruned,
      '--masks-only',
    ]);
    const masks = join(pruned, 'masks.safetensors');
    const base = ['ppl', '--model', model, '--ids', idsFile, '--ctx', String(S), '--json'];
    const report = JSON.parse(await ok([...base, '--masks', masks, '--compare'])) as Record<string, number | null>;
    expect(report).toMatchObject({ tokens: 93, windows: 3, ctx: S, stride: S });

    // The reference: per window both models' logits from `moe-lab logits`, KL and argmax per position in f64.
    let [klSum, agreeing, count] = [0, 0, 0];
    const firsts: number[] = [];
    for (let w = 0; w < ids.length / S; w++) {
      const window = ids.slice(w * S, (w + 1) * S);
      const dense = await cliLogits(model, window, `dense-${w}`);
      const masked = await cliLogits(model, window, `pruned-${w}`, masks);
      const V = dense.length / S;
      // Row j predicts token j + 1: rows 0 .. S - 2 are scored.
      const rows = fidelityOfRows(dense, masked, S - 1, V);
      rows.forEach((r) => {
        klSum += r.kl;
        count++;
        if (r.denseTop === r.prunedTop) agreeing++;
      });
      const first = rows.findIndex((r) => r.denseTop !== r.prunedTop);
      if (first >= 0) firsts.push(first);
    }
    expect(count).toBe(93);
    expect(Math.abs(report.kl! - klSum / count)).toBeLessThanOrEqual(1e-6 + 1e-4 * (klSum / count));
    expect(report.kl).toBeGreaterThan(0.01);
    expect(report.top1Agreement).toBe(agreeing / count);
    expect(report.top1Agreement).toBeLessThan(1);
    expect(report.windowsAgreeing).toBe(3 - firsts.length);
    const sorted = [...firsts].sort((a, b) => a - b);
    expect(report.firstDisagreementMean).toBe(firsts.length ? firsts.reduce((s, v) => s + v, 0) / firsts.length : null);
    const n = sorted.length;
    expect(report.firstDisagreementMedian).toBe(n === 0 ? null : n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2);

    // Same windows, same numbers as the separate runs.
    const prunedOnly = JSON.parse(await ok([...base, '--masks', masks])) as Record<string, number>;
    const denseOnly = JSON.parse(await ok(base)) as Record<string, number>;
    expect([report.ppl, report.nll]).toEqual([prunedOnly.ppl, prunedOnly.nll]);
    expect([report.densePpl, report.denseNll]).toEqual([denseOnly.ppl, denseOnly.nll]);
    expect(report.densePpl).toBeLessThan(report.ppl!);
  });

  it('the dense model against itself (masks that keep everything): KL 0, every top-1 agrees, no first disagreement', async () => {
    const model = fixtureDir('mixtral');
    const kept = join(dir, 'kept');
    await ok(['prune', '--model', model, '--method', 'magnitude', '--sparsity', '0', '--out', kept, '--masks-only']);
    const idsFile = join(dir, 'ids-self.json');
    writeFileSync(idsFile, JSON.stringify((await readFixtureReference('mixtral')).inputIds));
    const report = JSON.parse(
      await ok(['ppl', '--model', model, '--ids', idsFile, '--ctx', '48', '--masks', join(kept, 'masks.safetensors'), '--compare', '--json']),
    ) as Record<string, number | null>;
    expect(report).toMatchObject({ kl: 0, top1Agreement: 1, windowsAgreeing: 2, firstDisagreementMean: null, firstDisagreementMedian: null });
    expect(report.densePpl).toBe(report.ppl);
  });

  it('--compare without --masks is a usage error (exit 2, one line)', async () => {
    const r = await run(['ppl', '--model', fixtureDir('mixtral'), '--ids', join(dir, 'ids.json'), '--compare', '--json']);
    expect(r.code).toBe(2);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(/--compare needs --masks/);
  });
});
