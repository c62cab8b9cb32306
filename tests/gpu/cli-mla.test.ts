/**
 * The lab's commands on the set-b fixtures (DeepSeek-V2, DeepSeek-V3 with and without expert groups, GLM-4.5), in
 * process on the GPU: `ppl --ids` equals transformers' perplexity to 1e-5 relative; `logits` writes the MoE
 * layers' router logits (the raw logits, before sigmoid/softmax and correction bias) matching transformers;
 * prune gives the CPU reference pipeline's masks, and export -> reload -> ppl the number `ppl --masks` gives on the dense folder (with the
 * multi-head latent attention pruned too: q or q_a / q_b, kv_a, kv_b and o masked and exported); dropping experts
 * exports E - r experts with the same perplexity (with expert groups r / n_group from each group, n_group kept; an
 * uneven r is refused); distillation lowers every MoE layer's expert MSE with the masks held.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCliText as run } from '../helpers/cli.ts';
import { DirectoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import type { DistillReport } from '../../src/engine/distill/report.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES_B, fixtureDir, readFixtureReference } from '../helpers/fixtures.ts';
import { canonicalReader, maskSetDifference, randomWindows } from './prune-pipeline-helpers.ts';
import { masksFromSafetensors, readMasksFile } from '../../src/engine/prune/masks-file.ts';
import { pipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { referencePipeline } from '../../src/engine/reference/prune-pipeline.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { gpu } from './gpu-context.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-cli-mla-');
const calibrationFile = join(work, 'calibration.json');
const evalFile = join(work, 'eval.json');

beforeAll(() => {
  writeFileSync(calibrationFile, JSON.stringify(randomWindows(4, 24, 512, 5)));
  writeFileSync(evalFile, JSON.stringify(randomWindows(1, 64, 512, 9)[0]));
});

async function ok(argv: string[]): Promise<string> {
  const r = await run(argv);
  expect(r.code, r.err).toBe(0);
  return r.out;
}

async function cliNll(args: string[]): Promise<number> {
  return (JSON.parse(await ok(['ppl', ...args, '--ids', evalFile, '--json'])) as { nll: number }).nll;
}

describe.each(FIXTURES_B)('%s', (name) => {
  it("ppl --ids equals transformers to 1e-5; logits writes the MoE layers' router logits", async () => {
    const ref = await readFixtureReference(name);
    const ids = join(work, `${name}-ids.json`);
    writeFileSync(ids, JSON.stringify(ref.inputIds));
    const report = JSON.parse(await ok(['ppl', '--model', fixtureDir(name), '--ids', ids, '--json'])) as { nll: number; ppl: number };
    expect(Math.abs(report.nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-5);
    expect(Math.abs(report.ppl - ref.perplexity) / ref.perplexity).toBeLessThan(1e-5 * ref.meanNll * 1.01);
    const out = join(work, `${name}-logits.safetensors`);
    await ok(['logits', '--model', fixtureDir(name), '--ids', ids, '--out', out]);
    const source = new FileByteSource(out);
    const header = await readSafetensorsHeader(source);
    for (const l of [1, 2]) {
      const info = header.tensors.get(`layers.${l}.router_logits`)!;
      const expected = ref.tensors.get(`layers.${l}.router_logits`)!;
      const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expectClose(bytesToFloat32(info, await readTensorBytes(source, info)), expected, {
        atol: 1e-4 * scale,
        rtol: 0,
        label: `${name} layer ${l} router logits`,
      });
    }
  });

  it('prune: masks = the CPU reference pipeline; export -> reload -> ppl = ppl --masks on the dense folder', async () => {
    const out = join(work, `${name}-pruned`);
    await ok([
      'prune',
      '--model',
      fixtureDir(name),
      '--method',
      'moe-pruner',
      '--sparsity',
      '0.5',
      '--targets',
      'experts,shared',
      '--ids',
      calibrationFile,
      '--out',
      out,
    ]);
    const checkpoint = await openCheckpoint(new DirectoryFolder(fixtureDir(name)));
    const model = await GpuModel.upload(await gpu(), checkpoint);
    const { stats } = await calibrateOnGpu(model, JSON.parse(readFileSync(calibrationFile, 'utf8')) as number[][]);
    model.destroy();
    const settings = pipelineSettings({ method: 'moe-pruner', sparsity: 0.5, targets: ['experts', 'shared'] });
    const reference = await referencePipeline({ spec: checkpoint.spec, canonical: canonicalReader(checkpoint), stats, settings });
    const source = new FileByteSource(join(out, 'masks.safetensors'));
    const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
    const masks = masksFromSafetensors(checkpoint.spec, header, await source.read(0, await source.size()));
    expect(maskSetDifference(masks, reference.masks)).toBeNull();
    expect(await ok(['info', '--model', out])).toContain(name.replace('_nogroup', ''));
    const exported = await cliNll(['--model', out]);
    expect(await cliNll(['--model', fixtureDir(name), '--masks', join(out, 'masks.safetensors')])).toBe(exported);
    expect(exported).not.toBe(await cliNll(['--model', fixtureDir(name)]));
  });

  it('dropping experts exports E - r of them (correction bias too) with the same perplexity; with expert groups r / n_group from each group', async () => {
    const dense = await openCheckpoint(new DirectoryFolder(fixtureDir(name)));
    const rule = dense.spec.routing;
    const groups = rule.kind === 'grouped-topk' ? rule.groups : 1;
    const argv = (r: number, out: string) => [
      'prune',
      '--model',
      fixtureDir(name),
      '--method',
      'wanda',
      '--sparsity',
      '0.3',
      '--experts-drop',
      String(r),
      '--ids',
      calibrationFile,
      '--out',
      out,
    ];
    if (groups > 1) {
      // 2 of 16 experts cannot come evenly from 4 groups: refused before the GPU with its one line.
      const r = await run(argv(2, join(work, `${name}-drop-uneven`)));
      expect(r.err).toMatch(/^moe-lab prune: cannot drop 2 experts under group-limited routing \(n_group 4\): .* drop a multiple of 4/);
      expect(r.code).toBe(2); // a usage error: its line, then the usage
    }
    const r = groups > 1 ? groups : 2;
    const out = join(work, `${name}-drop`);
    await ok(argv(r, out));
    const exported = await openCheckpoint(new DirectoryFolder(out));
    expect(exported.spec.numExperts).toBe(dense.spec.numExperts - r);
    expect(exported.spec.routing).toEqual(rule); // n_group, topk_group and the rest unchanged
    const masks = await readMasksFile(new FileByteSource(join(out, 'masks.safetensors')), dense.spec);
    const size = dense.spec.numExperts / groups;
    for (const layer of masks.layers) {
      if (!layer?.expertEnabled) continue;
      const perGroup = Array.from({ length: groups }, (_, g) => layer.expertEnabled!.subarray(g * size, (g + 1) * size).filter((on) => !on).length);
      expect(perGroup).toEqual(Array(groups).fill(r / groups));
    }
    expect(await cliNll(['--model', out])).toBe(await cliNll(['--model', fixtureDir(name), '--masks', join(out, 'masks.safetensors')]));
  });

  it('prunes multi-head latent attention too: its masks in masks.safetensors; export -> reload -> ppl = ppl --masks', async () => {
    if (!name.startsWith('deepseek')) return;
    const out = join(work, `${name}-attn`);
    await ok([
      'prune',
      '--model',
      fixtureDir(name),
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      '--targets',
      'experts,attention',
      '--ids',
      calibrationFile,
      '--out',
      out,
    ]);
    const dense = await openCheckpoint(new DirectoryFolder(fixtureDir(name)));
    const masks = await readMasksFile(new FileByteSource(join(out, 'masks.safetensors')), dense.spec);
    const q = dense.spec.mla!.qLoraRank === null ? ['attn.q'] : ['attn.q_a', 'attn.q_b'];
    expect(Object.keys(masks.layers[1]!.matrices).sort()).toEqual(['attn.kv_a', 'attn.kv_b', 'attn.o', ...q, 'experts.down', 'experts.gate_up'].sort());
    const exported = await cliNll(['--model', out]);
    expect(await cliNll(['--model', fixtureDir(name), '--masks', join(out, 'masks.safetensors')])).toBe(exported);
    expect(exported).not.toBe(await cliNll(['--model', join(work, `${name}-pruned`)]));
  });

  it("distills: every MoE layer's expert MSE goes down, masks held", async () => {
    const pruned = join(work, `${name}-pruned`);
    const outDir = join(work, `${name}-distilled`);
    const result = await run([
      'distill',
      '--teacher',
      fixtureDir(name),
      '--model',
      pruned,
      '--ids',
      calibrationFile,
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
    expect(report.layers).toHaveLength(2);
    for (const l of report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);
  });
});
