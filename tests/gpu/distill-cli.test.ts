/**
 * `moe-lab distill` in-process on tests/fixtures/lab-tiny pruned by `moe-lab prune`: the output folder has the
 * input's files with the same safetensors header (names, dtypes, shapes, offsets), loads with `moe-lab info`, and
 * distill-report.json's fields hold — ppl_dense and ppl_pruned are exactly what `moe-lab ppl` reports for the two
 * folders on the same text and windows, ppl_distilled what it reports for the output, gap_recovered follows, the
 * curves have one point per step. Bad input: other families and --out onto the input are refused in one line.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import type { DistillReport } from '../../src/engine/distill/report.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { tempDir } from '../helpers/safetensors-bytes.ts';

const ROOT = join(import.meta.dirname, '../..');
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const temp = tempDir('moe-lab-distill-cli-');
afterAll(() => temp.remove());
const pruned = join(temp.dir, 'pruned');
const out = join(temp.dir, 'distilled');
const text = join(temp.dir, 'text.txt');

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const o: string[] = [];
  const e: string[] = [];
  const code = await main(argv, { out: (t) => o.push(t), err: (t) => e.push(t) });
  return { code, out: o.join('\n'), err: e.join('\n') };
}

beforeAll(async () => {
  writeFileSync(text, readFileSync(join(ROOT, 'public/data/brown/heldout.txt'), 'utf8').slice(0, 12000));
  const prune = await run([
    'prune',
    '--model',
    LAB_TINY,
    '--method',
    'moe-pruner',
    '--sparsity',
    '0.5',
    '--text',
    text,
    '--samples',
    '8',
    '--seq-len',
    '64',
    '--out',
    pruned,
  ]);
  expect(prune.code, prune.err).toBe(0);
});

const evalFlags = ['--ctx', '64', '--max-tokens', '1024'];

describe('moe-lab distill', () => {
  it('writes a folder with the input layout and a report whose perplexities are the lab standard ones', async () => {
    const result = await run([
      'distill',
      '--teacher',
      LAB_TINY,
      '--model',
      pruned,
      '--text',
      text,
      '--samples',
      '8',
      '--seq-len',
      '32',
      '--batch',
      '2',
      '--steps',
      '4',
      '--eval-text',
      text,
      '--eval-ctx',
      '64',
      '--eval-max-tokens',
      '1024',
      '--out',
      out,
      '--json',
      '--save-state',
      '--curves',
      join(temp.dir, 'curves.svg'),
    ]);
    expect(result.code, result.err).toBe(0);
    const summary = JSON.parse(result.out) as Record<string, number>;
    expect(summary.steps).toBe(4);

    expect(readdirSync(out).sort()).toEqual([...readdirSync(pruned), 'distill-report.json', 'distill-state.safetensors'].sort());
    const header = (file: string) => {
      const bytes = readFileSync(file);
      return bytes.subarray(0, 8 + Number(bytes.readBigUInt64LE(0))).toString('latin1');
    };
    expect(header(join(out, 'model.safetensors'))).toBe(header(join(pruned, 'model.safetensors')));
    const info = await run(['info', '--model', out, '--json']);
    expect(info.code, info.err).toBe(0);
    const { model: _, ...described } = JSON.parse(info.out) as Record<string, unknown>;
    const { model: __, ...input } = JSON.parse((await run(['info', '--model', pruned, '--json'])).out) as Record<string, unknown>;
    expect(described).toEqual(input);

    const report = JSON.parse(readFileSync(join(out, 'distill-report.json'), 'utf8')) as DistillReport;
    expect(report.format).toBe('moe-lab-distill-report/1');
    expect(report.student.masks).toBe('masks.safetensors');
    expect(report.masks_preserved).toEqual({ pruned_weights: 196608, nonzero_after: 0 });
    expect(report.curves.step).toEqual([1, 2, 3, 4]);
    for (const key of ['cross_entropy', 'expert_loss', 'total', 'grad_norm', 'lr'] as const) expect(report.curves[key].every(Number.isFinite), key).toBe(true);
    expect(report.curves.total[0]).toBeCloseTo(report.curves.cross_entropy[0] + report.lambda * report.curves.expert_loss[0], 4);
    expect(report.lambda).toBeCloseTo(report.lambda_measured!.cross_entropy / report.lambda_measured!.expert_loss, 6);
    const ppl = async (dir: string) =>
      JSON.parse((await run(['ppl', '--model', dir, '--text', text, ...evalFlags, '--json'])).out) as { ppl: number; tokens: number };
    expect(report.ppl_dense).toBe((await ppl(LAB_TINY)).ppl);
    expect(report.ppl_pruned).toBe((await ppl(pruned)).ppl);
    expect(report.ppl_distilled).toBe((await ppl(out)).ppl);
    expect(report.perplexity!.dense.tokens).toBe(16 * 63); // 16 windows of 64, 63 predictions each
    // lab-tiny's random weights: pruning may even lower its perplexity, and then there is no gap to recover.
    const gap = report.ppl_pruned! - report.ppl_dense!;
    if (gap > 0) expect(report.gap_recovered).toBeCloseTo((report.ppl_pruned! - report.ppl_distilled!) / gap, 12);
    else expect(report.gap_recovered).toBeNull();
    expect(readFileSync(join(temp.dir, 'curves.svg'), 'utf8')).toMatch(/^<svg/);

    // Resuming from the saved state to more steps continues the curves from step 5.
    const more = join(temp.dir, 'more');
    const resumed = await run([
      'distill',
      '--teacher',
      LAB_TINY,
      '--model',
      pruned,
      '--text',
      text,
      '--samples',
      '8',
      '--seq-len',
      '32',
      '--steps',
      '6',
      '--resume',
      join(out, 'distill-state.safetensors'),
      '--out',
      more,
      '--json',
    ]);
    expect(resumed.code, resumed.err).toBe(0);
    const resumedReport = JSON.parse(readFileSync(join(more, 'distill-report.json'), 'utf8')) as DistillReport;
    expect(resumedReport.curves.step).toEqual([5, 6]);
    expect(resumedReport.ppl_distilled).toBeNull();
  });

  it('refuses other families and an output onto its input, in one line', async () => {
    const qwen = await run([
      'distill',
      '--teacher',
      fixtureDir('qwen2_moe'),
      '--model',
      fixtureDir('qwen2_moe'),
      '--ids',
      join(temp.dir, 'none.json'),
      '--out',
      join(temp.dir, 'x'),
    ]);
    expect(qwen.code).toBe(1);
    expect(qwen.err).toMatch(/^moe-lab: .*qwen2_moe\/config.json: distillation needs the Mixtral architecture; the training kernels lack .*shared experts/);
    expect(qwen.err.split('\n')).toHaveLength(1);
    const onto = await run(['distill', '--teacher', LAB_TINY, '--model', pruned, '--text', text, '--out', pruned]);
    expect(onto.code).toBe(2);
    expect(onto.err).toMatch(/--out must be a new folder/);
  });
});
