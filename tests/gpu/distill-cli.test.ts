/**
 * `moe-lab distill` in-process. On tests/fixtures/lab-tiny pruned by `moe-lab prune`: the output folder has the
 * input's files with the same safetensors header (names, dtypes, shapes, offsets), loads with `moe-lab info`, and
 * distill-report.json's fields hold — ppl_dense and ppl_pruned are exactly what `moe-lab ppl` reports for the two
 * folders on the same text and windows, ppl_distilled what it reports for the output, gap_recovered follows, the
 * curves have one point per step and layer; a run stopped (--until-step) with --save-state and resumed writes
 * the same bytes as one that ran through. The acceptance test: Qwen3-MoE, OLMoE and Granite-MoE fixtures pruned 50%
 * with MoE-Pruner get a lower held-out perplexity (on text sampled from the dense model) with every pruned weight
 * still exactly 0 in the written files. The Mixtral (grouped-query), Qwen2-MoE (shared expert) and PhiMoE
 * (LayerNorm, sparsemixer) fixtures distill too (expert MSE down in every layer); packed bf16 experts (a synthetic
 * OLMoE-shaped model) are distilled and written back as bf16 with the masks held. Bad input (another network,
 * --train all, --lambda, --out onto the input) is refused in one line.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import { runCliText as run } from '../helpers/cli.ts';
import { readExpertsF32 } from '../../src/engine/distill/problem.ts';
import type { DistillReport } from '../../src/engine/distill/report.ts';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { distillAcceptance } from './distill-helpers.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const ROOT = join(import.meta.dirname, '../..');
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const scratch = scratchDir('moe-lab-distill-cli-');
const pruned = join(scratch, 'pruned');
const out = join(scratch, 'distilled');
const text = join(scratch, 'text.txt');

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
      '2',
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
      join(scratch, 'curves.svg'),
    ]);
    expect(result.code, result.err).toBe(0);
    const summary = JSON.parse(result.out) as Record<string, number>;
    expect(summary.steps).toBe(4); // 2 steps x 2 MoE layers
    expect(summary.total_steps).toBe(4);

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
    expect(report.format).toBe('moe-lab-distill-report/2');
    expect(report.objective).toBe('expert-mse-layerwise');
    expect(report.student.masks).toBe('masks.safetensors');
    expect(report.masks_preserved).toEqual({ pruned_weights: report.student.pruned_weights, nonzero_after: 0 });
    expect(report.student.pruned_weights).toBeGreaterThan(0);
    expect(report.curves.step).toEqual([1, 2, 3, 4]);
    expect(report.curves.layer).toEqual([0, 0, 1, 1]);
    for (const key of ['expert_loss', 'grad_norm', 'lr'] as const) expect(report.curves[key].every(Number.isFinite), key).toBe(true);
    expect(report.layers.map((l) => [l.layer, l.steps])).toEqual([
      [0, 2],
      [1, 2],
    ]);
    for (const l of report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);
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
    expect(readFileSync(join(scratch, 'curves.svg'), 'utf8')).toMatch(/^<svg/);
  });

  it('a run stopped at a step, saved and resumed writes the same bytes as one that ran through', async () => {
    const common = ['--teacher', LAB_TINY, '--model', pruned, '--text', text, '--samples', '8', '--seq-len', '32', '--batch', '2', '--steps', '3'];
    const through = join(scratch, 'through');
    const half = join(scratch, 'half');
    const resumed = join(scratch, 'resumed');
    expect((await run(['distill', ...common, '--out', through])).code).toBe(0);
    const stopped = await run(['distill', ...common, '--until-step', '4', '--save-state', '--out', half, '--json']);
    expect(stopped.code, stopped.err).toBe(0);
    expect(JSON.parse(stopped.out)).toMatchObject({ steps: 4, finished: false, total_steps: 6 });
    const again = await run(['distill', ...common, '--resume', join(half, 'distill-state.safetensors'), '--out', resumed, '--json']);
    expect(again.code, again.err).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ steps: 6, finished: true });
    const bytes = (dir: string) => readFileSync(join(dir, 'model.safetensors'));
    expect(Buffer.compare(bytes(resumed), bytes(through))).toBe(0);
    expect(Buffer.compare(bytes(half), bytes(through))).not.toBe(0); // layer 1 was not distilled yet
    const a = JSON.parse(readFileSync(join(through, 'distill-report.json'), 'utf8')) as DistillReport;
    const b = JSON.parse(readFileSync(join(resumed, 'distill-report.json'), 'utf8')) as DistillReport;
    expect(b.curves).toEqual(a.curves);
    expect(b.layers.map(({ seconds: _, ...l }) => l)).toEqual(a.layers.map(({ seconds: _, ...l }) => l));
  });

  it.each(['qwen3_moe', 'olmoe', 'granitemoe'] as const)(
    'lowers the held-out perplexity of a MoE-Pruner-pruned %s fixture with every pruned weight still exactly 0',
    async (name) => {
      const { report } = await distillAcceptance(fixtureDir(name), scratch, name);
      expect(report.student.architecture).toBe(name);
    },
    300_000,
  );

  it.each(['mixtral', 'qwen2_moe', 'phimoe'] as const)("distills the %s fixture too: each layer's expert MSE goes down, masks held", async (name) => {
    const dense = fixtureDir(name);
    const ids = join(scratch, `${name}-random-ids.json`);
    let seed = 11;
    writeFileSync(ids, JSON.stringify(Array.from({ length: 8 }, () => Array.from({ length: 17 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % 512))));
    const prunedDir = join(scratch, `${name}-random-pruned`);
    const outDir = join(scratch, `${name}-random-distilled`);
    expect((await run(['prune', '--model', dense, '--method', 'moe-pruner', '--sparsity', '0.5', '--ids', ids, '--out', prunedDir])).code).toBe(0);
    const result = await run([
      'distill',
      '--teacher',
      dense,
      '--model',
      prunedDir,
      '--ids',
      ids,
      '--steps',
      '8',
      '--lr',
      '1e-3',
      '--batch',
      '2',
      '--out',
      outDir,
    ]);
    expect(result.code, result.err).toBe(0);
    const report = JSON.parse(readFileSync(join(outDir, 'distill-report.json'), 'utf8')) as DistillReport;
    expect(report.student.architecture).toBe(name);
    expect(report.masks_preserved.nonzero_after).toBe(0);
    expect(report.layers).toHaveLength(2);
    for (const l of report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);
  });

  it('distills packed bf16 experts (an OLMoE-shaped model) and writes them back as bf16 with the masks held', async () => {
    const config = JSON.parse(readFileSync(join(fixtureDir('olmoe'), 'config.json'), 'utf8')) as Record<string, unknown>;
    const folder = syntheticModelFolder(config, 'BF16', 5);
    const dense = join(scratch, 'olmoe-bf16');
    mkdirSync(dense);
    for (const file of ['config.json', 'model.safetensors']) {
      const source = (await folder.open(file))!;
      writeFileSync(join(dense, file), await source.read(0, await source.size()));
    }
    const ids = join(scratch, 'bf16-ids.json');
    let seed = 7;
    writeFileSync(ids, JSON.stringify(Array.from({ length: 8 }, () => Array.from({ length: 17 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % 512))));
    const prunedDir = join(scratch, 'olmoe-bf16-pruned');
    const outDir = join(scratch, 'olmoe-bf16-distilled');
    expect((await run(['prune', '--model', dense, '--method', 'moe-pruner', '--sparsity', '0.5', '--ids', ids, '--out', prunedDir])).code).toBe(0);
    const result = await run([
      'distill',
      '--teacher',
      dense,
      '--model',
      prunedDir,
      '--ids',
      ids,
      '--steps',
      '6',
      '--lr',
      '1e-3',
      '--batch',
      '2',
      '--out',
      outDir,
    ]);
    expect(result.code, result.err).toBe(0);
    const report = JSON.parse(readFileSync(join(outDir, 'distill-report.json'), 'utf8')) as DistillReport;
    expect(report.masks_preserved.nonzero_after).toBe(0);
    for (const l of report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);
    const written = await openCheckpoint(await directoryFolder(outDir));
    const before = await openCheckpoint(await directoryFolder(prunedDir));
    for (const l of [0, 1]) {
      const [a, b] = [await readExpertsF32(written, l), await readExpertsF32(before, l)];
      expect(a.dtype).toBe('bf16');
      expect(a.values.some((v, i) => v !== b.values[i])).toBe(true); // distilled, and stored as bf16
      a.values.forEach((v, i) => {
        if (b.values[i] === 0 && v !== 0) throw new Error(`layer ${l}: pruned expert weight ${i} is ${v}`);
      });
    }
  });

  it('refuses another network, removed flags and an output onto its input, in one line', async () => {
    const other = await run([
      'distill',
      '--teacher',
      fixtureDir('qwen3_moe'),
      '--model',
      fixtureDir('olmoe'),
      '--ids',
      join(scratch, 'none.json'),
      '--out',
      join(scratch, 'x'),
    ]);
    expect(other.code).toBe(1);
    expect(other.err).toMatch(/^moe-lab: .*olmoe\/config.json: a olmoe model, but the teacher .*qwen3_moe is qwen3_moe/);
    expect(other.err.split('\n')).toHaveLength(1);
    const all = await run(['distill', '--teacher', LAB_TINY, '--model', pruned, '--text', text, '--train', 'all', '--out', join(scratch, 'y')]);
    expect(all.code).toBe(2);
    expect(all.err).toMatch(/--train all is no longer available: distillation trains the routed experts only/);
    const lambda = await run(['distill', '--teacher', LAB_TINY, '--model', pruned, '--text', text, '--lambda', '0', '--out', join(scratch, 'y')]);
    expect(lambda.code).toBe(2);
    expect(lambda.err).toMatch(/--lambda is no longer available/);
    const onto = await run(['distill', '--teacher', LAB_TINY, '--model', pruned, '--text', text, '--out', pruned]);
    expect(onto.code).toBe(2);
    expect(onto.err).toMatch(/--out must be a new folder/);
  });
});
