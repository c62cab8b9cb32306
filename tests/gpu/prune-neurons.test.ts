/**
 * Neuron pruning (structure neurons; docs/pruning.md, "Neuron pruning") on the six hf-tiny checkpoints:
 * - the GPU pipeline's masks, for every score at 25% and 50%, equal a CPU reference of the rule written here from
 *   the checkpoint's files (scores from the definitions, a stable sort, whole rows and columns masked);
 * - `moe-lab prune --structure neurons`: masks.safetensors is that reference too; the folder has the same tensor
 *   names and dtypes, the routed experts' tensors hold exactly the kept rows / columns of the dense ones, every other
 *   tensor is byte-identical, config.json differs only in the expert FFN size key; it reloads with I' and
 *   `moe-lab ppl` of it equals `ppl --masks` of the dense model; the report's accounting is smaller.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { DirectoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import type { CalibrationStats } from '../../src/engine/calibration/stats.ts';
import { expertFfnKey } from '../../src/engine/export/neuron-export.ts';
import { prunableTensorLayouts } from '../../src/engine/export/tensor-plan.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import type { MaskSet } from '../../src/engine/model/mask-set.ts';
import { masksFromSafetensors } from '../../src/engine/prune/masks-file.ts';
import { NEURON_METHODS, type NeuronMethod } from '../../src/engine/prune/neurons.ts';
import { pipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { randomKey, randomStreamKey } from '../../src/engine/prune/scores.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { prunePipeline } from '../../src/gpu/prune/pipeline.ts';
import { readRawTensors } from '../helpers/checkpoint-files.ts';
import { FIXTURES, fixtureDir, openFixture, type FixtureName } from '../helpers/fixtures.ts';
import { gpu } from './gpu-context.ts';
import { canonicalReader, maskSetDifference, randomWindows } from './prune-pipeline-helpers.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-neurons-');
const calibrationFile = join(work, 'calibration.json');
const evalFile = join(work, 'eval.json');

beforeAll(() => {
  writeFileSync(calibrationFile, JSON.stringify(randomWindows(4, 24, 512, 5)));
  writeFileSync(evalFile, JSON.stringify(randomWindows(1, 64, 512, 9)[0]));
});

async function ok(argv: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  expect(err, argv.join(' ')).toEqual([]);
  expect(code).toBe(0);
  return out.join('\n');
}

interface Fixture {
  checkpoint: Checkpoint;
  model: GpuModel;
  stats: CalibrationStats;
}
const fixtures = new Map<FixtureName, Fixture>();
afterAll(() => {
  for (const f of fixtures.values()) f.model.destroy();
});

async function fixture(name: FixtureName): Promise<Fixture> {
  let f = fixtures.get(name);
  if (!f) {
    const checkpoint = await openFixture(name);
    const model = await GpuModel.upload(await gpu(), checkpoint);
    const { stats } = await calibrateOnGpu(model, JSON.parse(readFileSync(calibrationFile, 'utf8')) as number[][]);
    f = { checkpoint, model, stats };
    fixtures.set(name, f);
  }
  return f;
}

/** The rule, written out: per expert the floor(I s) lowest scores dropped (stable ascending sort), whole rows / columns masked. */
async function referenceMasks(f: Fixture, method: NeuronMethod, sparsity: number, seed = 0): Promise<{ masks: MaskSet; kept: Map<number, number[][]> }> {
  const { spec } = f.checkpoint;
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
  const read = canonicalReader(f.checkpoint);
  const masks: MaskSet = { layers: spec.moeLayers.map(() => null) };
  const keptByLayer = new Map<number, number[][]>();
  for (const [l, isMoe] of spec.moeLayers.entries()) {
    if (!isMoe) continue;
    const gateUp = await read(l, 'experts.gate_up');
    const down = await read(l, 'experts.down');
    const keptPerExpert: number[][] = [];
    for (let e = 0; e < E; e++) {
      const scored: [number, number][] = [];
      for (let n = 0; n < I; n++) {
        let g = 0;
        let u = 0;
        let d = 0;
        for (let h = 0; h < H; h++) {
          g += gateUp[(e * 2 * I + n) * H + h] ** 2;
          u += gateUp[(e * 2 * I + I + n) * H + h] ** 2;
          d += down[e * H * I + h * I + n] ** 2;
        }
        const x = f.stats.layers[l]!.experts[e];
        const score =
          method === 'random'
            ? randomKey(randomStreamKey(seed, l * 65536 + e), n)
            : method === 'magnitude'
              ? Math.sqrt(g + u + d)
              : Math.sqrt(d) * Math.sqrt((method === 'wanda' ? x.interSqNorm : x.interSqNormGated)[n]);
        scored.push([score, n]);
      }
      scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      const dropped = new Set(scored.slice(0, Math.floor(I * sparsity)).map((s) => s[1]));
      keptPerExpert.push(Array.from({ length: I }, (_, n) => n).filter((n) => !dropped.has(n)));
    }
    const keptSet = keptPerExpert.map((k) => new Set(k));
    const bits = (count: number, kept: (i: number) => boolean) => {
      const words = new Uint32Array(Math.ceil(count / 32));
      for (let i = 0; i < count; i++) if (kept(i)) words[i >>> 5] |= 1 << (i & 31);
      return words;
    };
    masks.layers[l] = {
      matrices: {
        'experts.gate_up': bits(E * 2 * I * H, (i) => {
          const row = Math.floor(i / H);
          return keptSet[Math.floor(row / (2 * I))].has((row % (2 * I)) % I);
        }),
        'experts.down': bits(E * H * I, (i) => keptSet[Math.floor(i / (H * I))].has(i % I)),
      },
    };
    keptByLayer.set(l, keptPerExpert);
  }
  return { masks, kept: keptByLayer };
}

async function readMasks(checkpoint: Checkpoint, file: string): Promise<MaskSet> {
  const source = new FileByteSource(file);
  return masksFromSafetensors(checkpoint.spec, await readSafetensorsHeader(source, { extraDtypes: ['U8'] }), await source.read(0, await source.size()));
}

describe.each(FIXTURES)('neuron pruning on %s', (name) => {
  it('masks of every score at 25% and 50% = the CPU reference of the rule', async () => {
    const f = await fixture(name);
    const I = f.checkpoint.spec.expertFfnSize;
    for (const method of NEURON_METHODS) {
      for (const sparsity of [0.25, 0.5]) {
        const run = await prunePipeline(f.model, pipelineSettings({ method, sparsity, structure: 'neurons', seed: 3 }), { stats: f.stats });
        try {
          const want = await referenceMasks(f, method, sparsity, 3);
          expect(maskSetDifference(await run.readMaskSet(), want.masks), `${method} ${sparsity}`).toBeNull();
          expect(run.report.neurons!.keptFfn).toBe(I - Math.floor(I * sparsity));
          expect(run.report.accounting!.pruned.diskBytes).toBeLessThan(run.report.accounting!.dense.diskBytes);
        } finally {
          run.destroy();
        }
      }
    }
  });

  it("moe-lab prune --structure neurons: smaller tensors, one config key, reloads with I', ppl(export) = ppl --masks", async () => {
    const f = await fixture(name);
    const { spec } = f.checkpoint;
    const I = spec.expertFfnSize;
    const keptFfn = I - Math.floor(I * 0.5);
    const out = join(work, name);
    const json = JSON.parse(
      await ok([
        'prune',
        '--model',
        fixtureDir(name),
        '--method',
        'moe-pruner',
        '--structure',
        'neurons',
        '--sparsity',
        '0.5',
        '--ids',
        calibrationFile,
        '--out',
        out,
        '--json',
      ]),
    );
    expect(json).toMatchObject({ structure: 'neurons', ffn: I, keptFfn });
    expect(json.accounting.pruned.diskBytes).toBeLessThan(json.accounting.dense.diskBytes);
    const want = await referenceMasks(f, 'moe-pruner', 0.5);
    expect(maskSetDifference(await readMasks(f.checkpoint, join(out, 'masks.safetensors')), want.masks)).toBeNull();

    // config.json: only the expert FFN size key changes.
    const before = JSON.parse(readFileSync(join(fixtureDir(name), 'config.json'), 'utf8'));
    const after = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const key = expertFfnKey(before);
    expect(after).toEqual({ ...before, [key]: keptFfn });

    // Same names and dtypes; experts hold exactly the kept rows / columns; the rest byte-identical.
    const dense = new Map(readRawTensors(join(fixtureDir(name), 'model.safetensors')).map((t) => [t.name, t]));
    const pruned = readRawTensors(join(out, 'model.safetensors'));
    expect(pruned.map((t) => t.name)).toEqual([...dense.keys()]);
    const exported = await openCheckpoint(new DirectoryFolder(out));
    expect(exported.spec).toEqual({ ...spec, expertFfnSize: keptFfn });
    const expertTensors = new Set(
      [...prunableTensorLayouts(f.checkpoint).values()].filter((t) => t.kind === 'per-expert' || t.kind === 'fused-experts').map((t) => t.name),
    );
    expect(expertTensors.size).toBeGreaterThan(0);
    for (const t of pruned) {
      const d = dense.get(t.name)!;
      expect(t.dtype).toBe(d.dtype);
      if (!expertTensors.has(t.name)) expect(Buffer.compare(Buffer.from(t.data), Buffer.from(d.data)), t.name).toBe(0);
      else expect(t.data.byteLength, t.name).toBe((d.data.byteLength / I) * keptFfn);
    }
    const denseRead = canonicalReader(f.checkpoint);
    const prunedRead = canonicalReader(exported);
    const H = spec.hiddenSize;
    for (const [l, kept] of want.kept) {
      const gu = await denseRead(l, 'experts.gate_up');
      const dn = await denseRead(l, 'experts.down');
      const gu2 = await prunedRead(l, 'experts.gate_up');
      const dn2 = await prunedRead(l, 'experts.down');
      const wantGu: number[] = [];
      const wantDn: number[] = [];
      kept.forEach((neurons, e) => {
        for (const half of [0, I]) for (const n of neurons) wantGu.push(...gu.subarray((e * 2 * I + half + n) * H, (e * 2 * I + half + n + 1) * H));
        for (let h = 0; h < H; h++) for (const n of neurons) wantDn.push(dn[e * H * I + h * I + n]);
      });
      expect(Array.from(gu2)).toEqual(wantGu);
      expect(Array.from(dn2)).toEqual(wantDn);
    }

    const ppl = async (args: string[]) => (JSON.parse(await ok(['ppl', ...args, '--ids', evalFile, '--json'])) as { nll: number }).nll;
    const exportedNll = await ppl(['--model', out]);
    const maskedNll = await ppl(['--model', fixtureDir(name), '--masks', join(out, 'masks.safetensors')]);
    expect(exportedNll).toBe(maskedNll);
    expect(exportedNll).not.toBe(await ppl(['--model', fixtureDir(name)]));
  });
});
