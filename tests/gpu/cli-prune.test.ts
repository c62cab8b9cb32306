/**
 * `moe-lab prune` end to end on the GPU, in-process, on all six hf-tiny checkpoints: the
 * folder it writes holds zeros exactly where masks.safetensors prunes, every other tensor byte-identical to the
 * input, loads with `moe-lab info`, and `moe-lab ppl` of it equals `moe-lab ppl --masks` of the dense model and the
 * in-lab number (prunePipeline + evaluatePerplexity) exactly; the masks equal the CPU reference pipeline. With
 * experts dropped, the smaller exported model computes the same perplexity. Also: attention and shared targets,
 * SparseGPT's updated weights in the export, `calibrate --mode sequential` with prune flags, and one-line errors.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { DirectoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import { statsFromSafetensors, type CalibrationStats } from '../../src/engine/calibration/stats.ts';
import { prunableTensorLayouts } from '../../src/engine/export/tensor-plan.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { isKept, type MaskSet } from '../../src/engine/model/mask-set.ts';
import { masksFromSafetensors } from '../../src/engine/prune/masks-file.ts';
import { referencePipeline } from '../../src/engine/reference/prune-pipeline.ts';
import { pipelineSettings, type PipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { parsePattern } from '../../src/engine/prune/settings.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { evaluatePerplexity } from '../../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { prunePipeline } from '../../src/gpu/prune/pipeline.ts';
import { readRawTensors } from '../helpers/checkpoint-files.ts';
import { FIXTURES, fixtureDir, openFixture, type FixtureName } from '../helpers/fixtures.ts';
import { gpu } from './gpu-context.ts';
import { canonicalReader, maskSetDifference, randomWindows } from './prune-pipeline-helpers.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-cli-prune-');

async function ok(argv: string[]): Promise<string> {
  const result = await run(argv);
  // The tiny calibration sets leave experts under the coverage threshold: only those warnings may appear.
  expect(
    result.err.filter((line) => !/got fewer than \d+ calibration tokens/.test(line)),
    argv.join(' '),
  ).toEqual([]);
  expect(result.code).toBe(0);
  return result.out.join('\n');
}

const calibrationFile = join(work, 'calibration.json');
const evalFile = join(work, 'eval.json');

/** The CLI's perplexity of one window (--ids: T - 1 predictions). */
async function cliPpl(args: string[]): Promise<number> {
  return (JSON.parse(await ok(['ppl', ...args, '--ids', evalFile, '--json'])) as { nll: number }).nll;
}

async function readMasks(checkpoint: Checkpoint, file: string): Promise<MaskSet> {
  const source = new FileByteSource(file);
  return masksFromSafetensors(checkpoint.spec, await readSafetensorsHeader(source, { extraDtypes: ['U8'] }), await source.read(0, await source.size()));
}

/** Zeros exactly where `masks` prunes (the kept weights unchanged), every other tensor byte-identical. */
function expectZerosAtMasks(name: FixtureName, checkpoint: Checkpoint, dir: string, masks: MaskSet): void {
  const layouts = prunableTensorLayouts(checkpoint);
  const input = new Map(readRawTensors(join(fixtureDir(name), 'model.safetensors')).map((t) => [t.name, t]));
  const output = readRawTensors(join(dir, 'model.safetensors'));
  expect(output.map((t) => t.name)).toEqual([...input.keys()]);
  for (const t of output) {
    const before = input.get(t.name)!;
    const segments = layouts.get(t.name)?.segments ?? [];
    const masked = segments.some((s) => s.canonical && masks.layers[s.canonical.layer]?.matrices[s.canonical.key]);
    if (!masked) {
      expect(Buffer.compare(Buffer.from(t.data), Buffer.from(before.data)), t.name).toBe(0);
      continue;
    }
    const values = new Float32Array(t.data.slice().buffer);
    const was = new Float32Array(before.data.slice().buffer);
    for (const s of segments) {
      const mask = masks.layers[s.canonical!.layer]!.matrices[s.canonical!.key]!;
      for (let i = 0; i < s.count; i++) {
        const kept = isKept(mask, s.canonical!.start + i);
        const got = values[s.start + i];
        if (kept ? got !== was[s.start + i] : !Object.is(got, 0)) throw new Error(`${t.name}[${s.start + i}] = ${got} (was ${was[s.start + i]}, kept ${kept})`);
      }
    }
  }
}

interface Fixture {
  checkpoint: Checkpoint;
  model: GpuModel;
  stats: CalibrationStats;
  windows: number[][];
  evalIds: number[];
}

const fixtures = new Map<FixtureName, Fixture>();

afterAll(() => {
  for (const f of fixtures.values()) f.model.destroy();
});

beforeAll(() => {
  const windows = randomWindows(4, 24, 512, 5);
  writeFileSync(calibrationFile, JSON.stringify(windows));
  writeFileSync(evalFile, JSON.stringify(randomWindows(1, 64, 512, 9)[0]));
});

async function fixture(name: FixtureName): Promise<Fixture> {
  let f = fixtures.get(name);
  if (!f) {
    const checkpoint = await openFixture(name);
    const model = await GpuModel.upload(await gpu(), checkpoint);
    const windows = JSON.parse(readFileSync(calibrationFile, 'utf8')) as number[][];
    const { stats } = await calibrateOnGpu(model, windows);
    f = { checkpoint, model, stats, windows, evalIds: JSON.parse(readFileSync(evalFile, 'utf8')) as number[] };
    fixtures.set(name, f);
  }
  return f;
}

/** The in-lab number: the pipeline's masks on the loaded dense model. */
async function labNll(f: Fixture, settings: PipelineSettings): Promise<number> {
  const pruned = await prunePipeline(f.model, settings, { windows: f.windows });
  try {
    return (await evaluatePerplexity(f.model, f.evalIds, { ctx: f.evalIds.length, masks: pruned.masks })).nll;
  } finally {
    pruned.destroy();
  }
}

describe.each(FIXTURES)('moe-lab prune on %s', (name) => {
  it('MoE-Pruner 50%: zeros = masks = CPU reference, rest byte-identical, loads, ppl(export) = ppl --masks = in-lab', async () => {
    const f = await fixture(name);
    const out = join(work, `${name}-moe-pruner`);
    const targets = f.checkpoint.spec.sharedExpert ? 'experts,shared' : 'experts';
    await ok([
      'prune',
      '--model',
      fixtureDir(name),
      '--method',
      'moe-pruner',
      '--sparsity',
      '0.5',
      '--targets',
      targets,
      '--ids',
      calibrationFile,
      '--out',
      out,
      '--json',
    ]);
    const masks = await readMasks(f.checkpoint, join(out, 'masks.safetensors'));
    const settings = pipelineSettings({ method: 'moe-pruner', sparsity: 0.5, targets: targets.split(',') as PipelineSettings['targets'] });
    const reference = await referencePipeline({ spec: f.checkpoint.spec, canonical: canonicalReader(f.checkpoint), stats: f.stats, settings });
    expect(maskSetDifference(masks, reference.masks)).toBeNull();
    expectZerosAtMasks(name, f.checkpoint, out, masks);
    const report = JSON.parse(readFileSync(join(out, 'prune-report.json'), 'utf8'));
    expect(report.achieved.overall.sparsity).toBe(0.5);
    expect(report.files.map((x: { path: string }) => x.path)).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'masks.safetensors']);
    expect(report.calibration).toMatchObject({ source: `ids:${calibrationFile}`, mode: 'dense', tokens: 96, windows: 4, windowLength: 24 });
    expect(await ok(['info', '--model', out])).toContain(f.checkpoint.spec.architecture);
    const exported = await cliPpl(['--model', out]);
    expect(await cliPpl(['--model', fixtureDir(name), '--masks', join(out, 'masks.safetensors')])).toBe(exported);
    expect(await labNll(f, settings)).toBe(exported);
    expect(exported).not.toBe(await cliPpl(['--model', fixtureDir(name)]));
  });

  it('Wanda 2:4 with 2 experts dropped by REAP: a model with E - 2 experts computing the same perplexity', async () => {
    const f = await fixture(name);
    const out = join(work, `${name}-drop`);
    await ok([
      'prune',
      '--model',
      fixtureDir(name),
      '--method',
      'wanda',
      '--pattern',
      '2:4',
      '--experts-drop',
      '2',
      '--expert-criterion',
      'reap',
      '--ids',
      calibrationFile,
      '--out',
      out,
    ]);
    const exported = await openCheckpoint(new DirectoryFolder(out));
    expect(exported.spec.numExperts).toBe(f.checkpoint.spec.numExperts - 2);
    const masks = await readMasks(f.checkpoint, join(out, 'masks.safetensors'));
    expect(masks.layers.map((l) => Array.from(l!.expertEnabled!).filter((x) => x === 0).length)).toEqual([2, 2]);
    const nll = await cliPpl(['--model', out]);
    expect(await cliPpl(['--model', fixtureDir(name), '--masks', join(out, 'masks.safetensors')])).toBe(nll);
    expect(await labNll(f, pipelineSettings({ method: 'wanda', pattern: parsePattern('2:4'), expertsDrop: 2, expertCriterion: 'reap' }))).toBe(nll);
  });
});

describe('moe-lab prune: targets, SparseGPT, sequential calibration, errors', () => {
  it('attention and shared-expert targets: their zeros follow the masks; ppl(export) = ppl --masks', async () => {
    const f = await fixture('qwen2_moe');
    const out = join(work, 'qwen-targets');
    await ok([
      'prune',
      '--model',
      fixtureDir('qwen2_moe'),
      '--method',
      'magnitude',
      '--sparsity',
      '0.4',
      '--group',
      'matrix',
      '--targets',
      'experts,attention,shared',
      '--out',
      out,
    ]);
    const masks = await readMasks(f.checkpoint, join(out, 'masks.safetensors'));
    expect(Object.keys(masks.layers[0]!.matrices).sort()).toEqual([
      'attn.k',
      'attn.o',
      'attn.q',
      'attn.v',
      'experts.down',
      'experts.gate_up',
      'shared.down',
      'shared.gate_up',
    ]);
    expectZerosAtMasks('qwen2_moe', f.checkpoint, out, masks);
    expect(await cliPpl(['--model', fixtureDir('qwen2_moe'), '--masks', join(out, 'masks.safetensors')])).toBe(await cliPpl(['--model', out]));
  });

  it('SparseGPT: the export carries the updated weights, so ppl(export) = the in-lab number', async () => {
    const f = await fixture('mixtral');
    const out = join(work, 'mixtral-sparsegpt');
    await ok([
      'prune',
      '--model',
      fixtureDir('mixtral'),
      '--method',
      'sparsegpt',
      '--sparsity',
      '0.5',
      '--blocksize',
      '32',
      '--ids',
      calibrationFile,
      '--out',
      out,
    ]);
    const settings = pipelineSettings({ method: 'sparsegpt', sparsity: 0.5, sparseGpt: { blockSize: 32, damp: 0.01 } });
    const exported = await cliPpl(['--model', out]);
    expect(await labNll(f, settings)).toBe(exported);
    // The masks alone (no updated weights) are a different model.
    expect(await cliPpl(['--model', fixtureDir('mixtral'), '--masks', join(out, 'masks.safetensors')])).not.toBe(exported);
  });

  it("SparseGPT with the default targets on a shared-expert model (Qwen2-MoE) prunes the routed experts only; 'shared' adds the shared expert", async () => {
    const f = await fixture('qwen2_moe');
    const args = ['prune', '--model', fixtureDir('qwen2_moe'), '--method', 'sparsegpt', '--sparsity', '0.5', '--blocksize', '16', '--ids', calibrationFile];
    const routedOut = join(work, 'qwen2-sparsegpt-routed');
    const bothOut = join(work, 'qwen2-sparsegpt-both');
    await ok([...args, '--out', routedOut]);
    await ok([...args, '--targets', 'experts,shared', '--out', bothOut]);
    const routed = await readMasks(f.checkpoint, join(routedOut, 'masks.safetensors'));
    const both = await readMasks(f.checkpoint, join(bothOut, 'masks.safetensors'));
    const shared = ['shared.gate_up', 'shared.down'] as const;
    const moeLayers = f.checkpoint.spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
    for (const l of moeLayers) {
      // Dense mode: the routed experts' Hessians do not depend on the shared expert, so their masks are the same bits.
      for (const key of ['experts.gate_up', 'experts.down'] as const) {
        expect(routed.layers[l]!.matrices[key], `layer ${l} ${key}`).toBeDefined();
        expect(Array.from(routed.layers[l]!.matrices[key]!)).toEqual(Array.from(both.layers[l]!.matrices[key]!));
      }
      for (const key of shared) {
        expect(routed.layers[l]!.matrices[key], `layer ${l} ${key}: dense`).toBeUndefined();
        expect(both.layers[l]!.matrices[key], `layer ${l} ${key}: pruned`).toBeDefined();
      }
    }
    // The shared expert's tensors are exported unchanged; the routed ones carry SparseGPT's updated weights.
    const input = new Map(readRawTensors(join(fixtureDir('qwen2_moe'), 'model.safetensors')).map((t) => [t.name, t]));
    const output = readRawTensors(join(routedOut, 'model.safetensors'));
    const sharedTensors = output.filter((t) => /\.shared_expert\./.test(t.name));
    expect(sharedTensors.length).toBeGreaterThan(0);
    for (const t of sharedTensors) expect(Buffer.compare(Buffer.from(t.data), Buffer.from(input.get(t.name)!.data)), t.name).toBe(0);
    const report = JSON.parse(readFileSync(join(routedOut, 'prune-report.json'), 'utf8'));
    expect(report.settings.targets).toEqual(['experts']);
    const settings = pipelineSettings({ method: 'sparsegpt', sparsity: 0.5, sparseGpt: { blockSize: 16, damp: 0.01 } });
    expect(await labNll(f, settings)).toBe(await cliPpl(['--model', routedOut]));
  });

  it('calibrate --mode sequential takes the prune flags: statistics through the pruned prefix, and its masks', async () => {
    const f = await fixture('olmoe');
    const stats = join(work, 'olmoe-seq.safetensors');
    const masksFile = join(work, 'olmoe-seq-masks.safetensors');
    await ok([
      'calibrate',
      '--model',
      fixtureDir('olmoe'),
      '--ids',
      calibrationFile,
      '--mode',
      'sequential',
      '--method',
      'wanda',
      '--sparsity',
      '0.6',
      '--out',
      stats,
      '--masks-out',
      masksFile,
    ]);
    const settings = pipelineSettings({ method: 'wanda', sparsity: 0.6, mode: 'sequential' });
    const pruned = await prunePipeline(f.model, settings, { windows: f.windows });
    try {
      const source = new FileByteSource(stats);
      const header = await readSafetensorsHeader(source);
      const written = statsFromSafetensors(f.checkpoint.spec, header, await source.read(0, await source.size()));
      expect(header.metadata).toMatchObject({ mode: 'sequential', method: 'wanda' });
      expect(Array.from(written.layers[1]!.experts[3].inputSqNorm)).toEqual(Array.from(pruned.stats!.layers[1]!.experts[3].inputSqNorm));
      expect(Array.from(written.layers[1]!.experts[3].inputSqNorm)).not.toEqual(Array.from(f.stats.layers[1]!.experts[3].inputSqNorm));
      expect(maskSetDifference(await readMasks(f.checkpoint, masksFile), await pruned.readMaskSet())).toBeNull();
    } finally {
      pruned.destroy();
    }
  });

  it('--stats reuses a statistics file from moe-lab calibrate: the same masks as calibrating in place', async () => {
    const stats = join(work, 'mixtral-dense.safetensors');
    await ok(['calibrate', '--model', fixtureDir('mixtral'), '--ids', calibrationFile, '--out', stats]);
    const out = join(work, 'mixtral-from-stats');
    await ok(['prune', '--model', fixtureDir('mixtral'), '--method', 'moe-pruner', '--sparsity', '0.5', '--stats', stats, '--out', out, '--masks-only']);
    const inPlace = join(work, 'mixtral-in-place');
    await ok([
      'prune',
      '--model',
      fixtureDir('mixtral'),
      '--method',
      'moe-pruner',
      '--sparsity',
      '0.5',
      '--ids',
      calibrationFile,
      '--out',
      inPlace,
      '--masks-only',
    ]);
    expect(Buffer.compare(readFileSync(join(out, 'masks.safetensors')), readFileSync(join(inPlace, 'masks.safetensors')))).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'prune-report.json'), 'utf8'));
    expect(report.calibration).toMatchObject({ source: `stats:${stats}`, mode: 'dense', tokens: 96 });
    expect(report.files.map((f: { path: string }) => f.path)).toEqual(['masks.safetensors']);
    const other = await run([
      'prune',
      '--model',
      fixtureDir('olmoe'),
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      '--stats',
      stats,
      '--out',
      join(work, 'never'),
    ]);
    expect(other.code).toBe(1);
    expect(other.err[0]).toMatch(/mixtral-dense\.safetensors/);
  });

  it('refuses bad requests with one line and a non-zero exit, before touching the GPU', async () => {
    const model = fixtureDir('mixtral');
    const out = join(work, 'never');
    const cases: [string[], number, RegExp][] = [
      [['--sparsity', '0.5', '--out', out], 2, /--method is required/],
      [['--method', 'wanda', '--out', out, '--ids', calibrationFile], 2, /--sparsity is required for unstructured pruning/],
      [
        ['--method', 'magnitude', '--sparsity', '0.5', '--experts-drop', '7', '--ids', calibrationFile, '--out', out],
        2,
        /cannot drop 7 of 8 experts per layer/,
      ],
      [['--method', 'wanda', '--sparsity', '0.5', '--out', out], 2, /wanda needs calibration: give --text FILE, --ids IDS\.json or --stats/],
      [['--method', 'magnitude', '--sparsity', '0.5', '--out', model], 2, /--out must be another folder than --model/],
      [['--method', 'magnitude', '--pattern', '3:2', '--out', out], 2, /--pattern: pattern 3:2 needs integers/],
      [['--method', 'prune-all', '--sparsity', '0.5', '--out', out], 2, /--method must be one of magnitude, wanda, moe-pruner, random, sparsegpt/],
      [
        ['--method', 'sparsegpt', '--sparsity', '0.5', '--experts-drop', '1', '--mode', 'sequential', '--ids', calibrationFile, '--out', out],
        2,
        /dense mode only/,
      ],
      [['--method', 'magnitude', '--sparsity', '0.5', '--targets', 'experts,router', '--out', out], 2, /--targets lists "router"/],
    ];
    for (const [args, code, message] of cases) {
      const result = await run(['prune', '--model', model, ...args]);
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.err[0], args.join(' ')).toMatch(message);
    }
    const wrongModel = await run(['ppl', '--model', fixtureDir('olmoe'), '--ids', evalFile, '--masks', join(work, 'mixtral-moe-pruner', 'masks.safetensors')]);
    expect(wrongModel.code).toBe(1);
    expect(wrongModel.err[0]).toMatch(/masks\.safetensors/);
  });
});
