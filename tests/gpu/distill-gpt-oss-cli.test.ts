/**
 * `moe-lab distill` on gpt_oss (in process): the f32 fixture and a bf16 copy of it (every tensor rounded to bf16, as
 * the hub's non-MXFP4 weights are stored), pruned 50% by MoE-Pruner, get a lower held-out perplexity (on windows
 * sampled from the dense model) with every weight masks.safetensors prunes still exactly 0 in the written files; the
 * written files keep gpt_oss's layout (x @ W, interleaved gate_up, biases) and dtype, and the biases were trained.
 * A student with MXFP4 experts is refused in one line that says why.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { directoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import { readExpertsF32 } from '../../src/engine/distill/problem.ts';
import type { DistillReport } from '../../src/engine/distill/report.ts';
import { encodeWeights } from '../../src/engine/io/dtype-encoding.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes, writeSafetensors } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { runCliText as run } from '../helpers/cli.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { distillAcceptance } from './distill-helpers.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const scratch = scratchDir('moe-lab-distill-gpt-oss-');
const bf16Dir = join(scratch, 'gpt_oss_bf16');

beforeAll(async () => {
  // The f32 fixture with every tensor rounded to bf16.
  mkdirSync(bf16Dir);
  const source = new FileByteSource(join(fixtureDir('gpt_oss'), 'model.safetensors'));
  const header = await readSafetensorsHeader(source);
  const tensors = [];
  for (const info of header.tensors.values()) {
    const data = encodeWeights(bytesToFloat32(info, await readTensorBytes(source, info)), 'bf16');
    tensors.push({ name: info.name, dtype: 'BF16' as const, shape: info.shape, data });
  }
  writeFileSync(join(bf16Dir, 'model.safetensors'), writeSafetensors(tensors));
  const config = JSON.parse(readFileSync(join(fixtureDir('gpt_oss'), 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(bf16Dir, 'config.json'), JSON.stringify({ ...config, dtype: 'bfloat16' }));
});

describe('moe-lab distill on gpt_oss', () => {
  it.each([
    ['f32', 'F32'],
    ['bf16', 'BF16'],
  ] as const)(
    'lowers the held-out perplexity of the MoE-Pruner-pruned %s fixture, every pruned weight still exactly 0, biases trained',
    async (which, dtype) => {
      const dense = which === 'f32' ? fixtureDir('gpt_oss') : bf16Dir;
      const { report, prunedDir, outDir, evalIds, written } = await distillAcceptance(dense, scratch, which);
      expect(report.student.architecture).toBe('gpt_oss');
      for (const l of report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);
      // The report's distilled perplexity is what `moe-lab ppl` gives for the written folder.
      const ppl = JSON.parse((await run(['ppl', '--model', outDir, '--ids', evalIds, '--ctx', '33', '--json'])).out) as { ppl: number };
      expect(ppl.ppl).toBe(report.ppl_distilled);
      // gpt_oss's tensors in their dtype; the biases moved.
      expect(written.tensors.get('model.layers.0.mlp.experts.gate_up_proj')!.info).toMatchObject({ dtype, shape: [8, 64, 64] });
      const before = await openCheckpoint(await directoryFolder(prunedDir));
      for (const l of [0, 1]) {
        const [after, pruned] = [await readExpertsF32(written, l), await readExpertsF32(before, l)];
        expect(after.dtype).toBe(which);
        const biasesMoved = after.values.subarray(after.layout.matrices).filter((v, i) => v !== pruned.values[after.layout.matrices + i]).length;
        expect(biasesMoved).toBeGreaterThan(0.5 * (after.layout.count - after.layout.matrices));
      }
    },
    300_000,
  );

  it('distills a student whose dropped experts were removed (biases cut with them) against the teacher experts it kept', async () => {
    const ids = join(scratch, 'dropped-ids.json');
    let seed = 5;
    writeFileSync(ids, JSON.stringify(Array.from({ length: 8 }, () => Array.from({ length: 17 }, () => (seed = (seed * 1103515245 + 12345) >>> 0) % 512))));
    const pruned = join(scratch, 'dropped-pruned');
    const drop = ['--experts-drop', '2', '--expert-criterion', 'frequency'];
    const prune = await run(['prune', '--model', fixtureDir('gpt_oss'), '--method', 'wanda', '--sparsity', '0.5', '--ids', ids, ...drop, '--out', pruned]);
    expect(prune.code, prune.err).toBe(0);
    const outDir = join(scratch, 'dropped-distilled');
    const result = await run(['distill', '--teacher', fixtureDir('gpt_oss'), '--model', pruned, '--ids', ids, '--steps', '6', '--batch', '2', '--out', outDir]);
    expect(result.code, result.err).toBe(0);
    const report = JSON.parse(readFileSync(join(outDir, 'distill-report.json'), 'utf8')) as DistillReport;
    expect(report.masks_preserved.nonzero_after).toBe(0);
    for (const l of report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);
    const written = await openCheckpoint(await directoryFolder(outDir));
    expect(written.spec.numExperts).toBe(6);
    expect(written.tensors.get('model.layers.1.mlp.experts.down_proj_bias')!.info.shape).toEqual([6, 64]);
  });

  it('refuses a student with MXFP4 experts, saying why', async () => {
    const ids = join(scratch, 'mxfp4-ids.json');
    writeFileSync(ids, JSON.stringify([Array.from({ length: 17 }, (_, i) => (i * 37) % 512)]));
    const pruned = join(scratch, 'mxfp4-pruned');
    expect((await run(['prune', '--model', fixtureDir('gpt_oss_mxfp4'), '--method', 'magnitude', '--sparsity', '0.5', '--out', pruned])).code).toBe(0);
    const distill = await run(['distill', '--teacher', fixtureDir('gpt_oss_mxfp4'), '--model', pruned, '--ids', ids, '--out', join(scratch, 'mxfp4-out')]);
    expect(distill.code).toBe(1);
    expect(distill.err).toMatch(/experts are MXFP4: distillation does not re-quantize trained weights to 4 bits/);
    expect(distill.err.trim().split('\n')).toHaveLength(1);
  });
});
