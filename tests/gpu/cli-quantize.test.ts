/**
 * `moe-lab quantize` on the tiny Mixtral fixture: GPTQ 4-bit under a masks file (from `moe-lab prune --masks-only`)
 * with --eval-ids writes a GPTQ folder and quantize-report.json; `moe-lab ppl --model OUT --ids` on that folder gives
 * the perplexity the lab measured on its quantized model to 1e-4; the reloaded weights keep every pruned weight at
 * exactly 0; usage errors name the flag; a folder GPTQ's words cannot hold is refused before a file is written.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { readCanonicalExperts } from '../../src/engine/model/expert-layout.ts';
import { masksFromSafetensors } from '../../src/engine/prune/masks-file.ts';
import { decodeWeights } from '../../src/engine/prune/packing.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { directoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import { weightDtypeOf } from '../../src/gpu/model/tensor-upload.ts';
import { WEIGHT_BYTES } from '../../src/gpu/weights.ts';
import { runCli } from '../helpers/cli.ts';
import { fixtureDir, readFixtureReference } from '../helpers/fixtures.ts';
import { DEFAULT_EMBEDDED_MODEL } from '../../src/engine/experiment/vocabulary.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const dir = scratchDir('moe-lab-cli-quantize-');
const DEFAULT_MODEL_DIR = join('public/models', DEFAULT_EMBEDDED_MODEL);

describe('moe-lab quantize', () => {
  it('GPTQ under masks: the GPTQ folder reloads with the in-lab perplexity, pruned weights stay 0', async () => {
    const model = fixtureDir('mixtral');
    const { inputIds } = await readFixtureReference('mixtral');
    const ids = join(dir, 'ids.json');
    writeFileSync(ids, JSON.stringify(inputIds));
    const pruned = join(dir, 'pruned');
    const prune = await runCli(['prune', '--model', model, '--method', 'magnitude', '--sparsity', '0.5', '--out', pruned, '--masks-only']);
    expect(prune.err).toEqual([]);
    const out = join(dir, 'gptq4');
    const args = [
      'quantize',
      '--model',
      model,
      '--bits',
      '4',
      '--method',
      'gptq',
      '--group-size',
      '16',
      '--ids',
      ids,
      '--masks',
      join(pruned, 'masks.safetensors'),
    ];
    const r = await runCli([...args, '--eval-ids', ids, '--out', out, '--json']);
    expect(r.err).toEqual([]);
    const report = JSON.parse(r.out[0]);
    expect(report.files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'quantize-report.json']));
    expect(report.accounting.quantized.diskBytes).toBeLessThan(report.accounting.dense.diskBytes);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config).toMatchObject({
      quant_method: 'gptq',
      bits: 4,
      group_size: 16,
      sym: true,
    });
    const ppl = await runCli(['ppl', '--model', out, '--ids', ids, '--json']);
    expect(ppl.err).toEqual([]);
    const reloaded = JSON.parse(ppl.out[0]).ppl as number;
    expect(Math.abs(reloaded - report.evaluation.ppl) / report.evaluation.ppl).toBeLessThanOrEqual(1e-4);

    // Every weight the masks prune reads back as exactly 0 from the GPTQ folder.
    const dense = await openCheckpoint(await directoryFolder(model));
    const source = new FileByteSource(join(pruned, 'masks.safetensors'));
    const masks = masksFromSafetensors(dense.spec, await readSafetensorsHeader(source, { extraDtypes: ['U8'] }), await source.read(0, await source.size()));
    const quantized = await openCheckpoint(await directoryFolder(out));
    for (const [l, layer] of masks.layers.entries()) {
      if (!layer) continue;
      const canonical = await readCanonicalExperts(quantized, l);
      const dtype = weightDtypeOf(quantized, 'experts', canonical.dtype);
      const values = decodeWeights(canonical.gateUp, dtype, canonical.gateUp.length / WEIGHT_BYTES[dtype]);
      const bits = layer.matrices['experts.gate_up']!;
      let pruned = 0;
      values.forEach((v, i) => {
        if (!((bits[i >>> 5] >>> (i & 31)) & 1)) {
          pruned++;
          expect(v).toBe(0);
        }
      });
      expect(pruned).toBeGreaterThan(0);
    }
  });

  it('usage errors name the flag', async () => {
    const model = fixtureDir('mixtral');
    const out = join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [['--bits', '5'], /--bits 5 is not one of 8, 4, 3, 2/],
      [['--bits', '4', '--avg-bits', '3'], /exactly one of --bits/],
      [['--bits', '4', '--method', 'awq'], /--method must be one of rtn, gptq \(got "awq"\)/],
      [['--bits', '4', '--method', 'gptq'], /GPTQ needs calibration windows/],
      [['--bits', '4', '--group-size', '6'], /group size 6 must be a positive multiple of 4/],
      // Inputs of 64 (gate / up) and 128 (down): the sizes that divide both are listed.
      [
        ['--bits', '4', '--group-size', '48'],
        /group size 48 does not divide the 64 input columns of .*\(group sizes that divide every expert matrix of this model: 4, 8, 16, 32, 64\)/,
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await runCli(['quantize', '--model', model, ...flags, '--out', out]);
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.err.join('\n')).toMatch(message);
    }
  });

  it('refuses, before writing a file, a GPTQ folder whose codes do not fill whole words, naming the widths that fit', async () => {
    // The default model's experts have 12 FFN columns: 12 x 4 bits is not a whole number of 32-bit words.
    const out = join(dir, 'words');
    const r = await runCli(['quantize', '--model', DEFAULT_MODEL_DIR, '--bits', '4', '--group-size', '12', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toMatch(
      /the GPTQ folder cannot hold layers\.0\.experts\.0\.gate: 12 output rows of 4 bits do not fill whole 32-bit qzeros words \(it fits at 8 bits\)/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
