/**
 * The lab's commands on the gpt_oss fixtures (f32 and MXFP4 experts), in process on the GPU: `ppl --ids` equals
 * transformers' perplexity to 1e-5 relative; `logits` writes both layers' router logits (x . W^T + bias) matching
 * transformers; `calibrate` runs; prune -> export (MXFP4 kept) -> reload -> ppl equals `ppl --masks`, with and
 * without dropped experts; `distill` runs on the f32 experts and refuses the MXFP4 ones with a clear error
 * (tests/gpu/distill-gpt-oss-cli.test.ts checks what it recovers).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliText as run } from '../helpers/cli.ts';
import { FileByteSource } from '../../src/cli/fs-folder.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES_C, fixtureDir, readFixtureReference } from '../helpers/fixtures.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-cli-gpt-oss-');

describe.each(FIXTURES_C)('%s', (name) => {
  it('ppl --ids equals transformers to 1e-5; logits writes the router logits; calibrate runs; prune -> export -> reload; distill', async () => {
    const ref = await readFixtureReference(name);
    const ids = join(work, `${name}-ids.json`);
    writeFileSync(ids, JSON.stringify(ref.inputIds));
    const ppl = await run(['ppl', '--model', fixtureDir(name), '--ids', ids, '--json']);
    expect(ppl.code, ppl.err).toBe(0);
    const report = JSON.parse(ppl.out) as { nll: number; ppl: number };
    expect(Math.abs(report.nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-5);
    const out = join(work, `${name}-logits.safetensors`);
    expect((await run(['logits', '--model', fixtureDir(name), '--ids', ids, '--out', out])).code).toBe(0);
    const source = new FileByteSource(out);
    const header = await readSafetensorsHeader(source);
    for (const l of [0, 1]) {
      const info = header.tensors.get(`layers.${l}.router_logits`)!;
      const expected = ref.tensors.get(`layers.${l}.router_logits`)!;
      const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expectClose(bytesToFloat32(info, await readTensorBytes(source, info)), expected, {
        atol: 1e-4 * scale,
        rtol: 0,
        label: `${name} layer ${l} router logits`,
      });
    }
    const stats = join(work, `${name}-stats.safetensors`);
    const calibrate = await run(['calibrate', '--model', fixtureDir(name), '--ids', ids, '--out', stats]);
    expect(calibrate.code, calibrate.err).toBe(0);
    // prune -> export -> reload -> ppl = ppl --masks on the dense folder; with 2 experts dropped per layer too.
    for (const extra of [[], ['--experts-drop', '2', '--expert-criterion', 'frequency']]) {
      const pruned = join(work, `${name}-pruned-${extra.length}`);
      const prune = await run(['prune', '--model', fixtureDir(name), '--method', 'wanda', '--sparsity', '0.5', '--stats', stats, ...extra, '--out', pruned]);
      expect(prune.code, prune.err).toBe(0);
      const reloaded = JSON.parse((await run(['ppl', '--model', pruned, '--ids', ids, '--json'])).out) as { nll: number };
      const maskedRun = await run(['ppl', '--model', fixtureDir(name), '--masks', join(pruned, 'masks.safetensors'), '--ids', ids, '--json']);
      const masked = JSON.parse(maskedRun.out) as { nll: number };
      expect(Math.abs(reloaded.nll - masked.nll)).toBeLessThan(1e-6 * masked.nll);
      expect(reloaded.nll).not.toBe(report.nll);
      // The export keeps the input's storage: MXFP4 blocks stay U8, E - 2 of them when 2 experts are dropped.
      const header = await readSafetensorsHeader(new FileByteSource(join(pruned, 'model.safetensors')), { extraDtypes: ['U8'] });
      const blocks = header.tensors.get('model.layers.0.mlp.experts.gate_up_proj_blocks');
      expect(blocks?.dtype ?? 'absent').toBe(name === 'gpt_oss_mxfp4' ? 'U8' : 'absent');
      if (blocks) expect(blocks.shape[0]).toBe(extra.length ? 6 : 8);
    }
    // Distillation trains f32 (and bf16) experts; MXFP4 students are refused (it would have to re-quantize).
    const distill = await run([
      'distill',
      '--teacher',
      fixtureDir(name),
      '--model',
      join(work, `${name}-pruned-0`),
      '--ids',
      ids,
      '--steps',
      '1',
      '--out',
      join(work, `${name}-distilled`),
    ]);
    if (name === 'gpt_oss') expect(distill.code, distill.err).toBe(0);
    else expect(distill.err).toMatch(/experts are MXFP4: distillation does not re-quantize trained weights/);
  });
});
