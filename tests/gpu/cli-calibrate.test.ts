/**
 * `moe-lab calibrate` in-process (main(argv, io)): the file it writes has the contract's tensor names and shapes
 * (docs/architecture.md) and the reference's values; --text draws the documented windows through the model's
 * tokenizer; bad input gives one line and a non-zero exit.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceCalibrationStats } from '../../src/engine/reference/calibration.ts';
import { sampleWindows } from '../../src/engine/calibration/sampling.ts';
import { statsFromSafetensors } from '../../src/engine/calibration/stats.ts';
import { MemoryByteSource } from '../../src/engine/io/byte-source.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { fixtureDir, openFixture, readFixtureReference } from '../helpers/fixtures.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { runCliText as run } from '../helpers/cli.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-calibrate-');

describe('moe-lab calibrate', () => {
  it('--ids: writes every contract tensor with its shape, equal to the CPU reference', async () => {
    const name = 'qwen2_moe';
    const ids = (await readFixtureReference(name)).inputIds;
    const windows = [ids.slice(0, 48), ids.slice(48, 96)];
    const idsFile = join(work, 'ids.json');
    writeFileSync(idsFile, JSON.stringify(windows));
    const outFile = join(work, 'stats.safetensors');
    const result = await run(['calibrate', '--model', fixtureDir(name), '--ids', idsFile, '--out', outFile, '--json']);
    // Tiny calibration sets leave experts under the coverage threshold: only those warnings may appear.
    expect(result.err.split('\n').filter((line) => line && !/got fewer than \d+ calibration tokens/.test(line))).toEqual([]);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.out);
    expect(report).toMatchObject({ out: outFile, mode: 'dense', tokens: 96, windows: 2, windowLength: 48 });
    expect(report.layers).toHaveLength(2);

    const bytes = new Uint8Array(readFileSync(outFile));
    const header = await readSafetensorsHeader(new MemoryByteSource('stats.safetensors', bytes));
    const checkpoint = await openFixture(name);
    const { numExperts: E, hiddenSize: H, expertFfnSize: I } = checkpoint.spec;
    const S = checkpoint.spec.sharedExpert!.ffnSize;
    const shapes: Record<string, number[]> = {
      expert_tokens: [E],
      expert_gate_sum: [E],
      coactivation: [E, E],
      'shared.input_sqnorm': [H],
      'shared.input_sqnorm_gated': [H],
      'shared.inter_sqnorm': [S],
      'shared.inter_sqnorm_gated': [S],
    };
    for (let e = 0; e < E; e++) {
      Object.assign(shapes, {
        [`experts.${e}.input_sqnorm`]: [H],
        [`experts.${e}.input_sqnorm_gated`]: [H],
        [`experts.${e}.inter_sqnorm`]: [I],
        [`experts.${e}.inter_sqnorm_gated`]: [I],
      });
    }
    for (const l of [0, 1]) {
      for (const [suffix, shape] of Object.entries(shapes)) {
        const info = header.tensors.get(`layers.${l}.${suffix}`);
        expect(info, `layers.${l}.${suffix}`).toBeDefined();
        expect(info!.dtype).toBe('F32');
        expect(info!.shape).toEqual(shape);
      }
    }
    expect(header.metadata).toMatchObject({ tokens: '96', mode: 'dense', windows: '2', window_length: '48' });
    expect(header.metadata.model_hash).toMatch(/^[0-9a-f]{64}$/);

    const stats = statsFromSafetensors(checkpoint.spec, header, bytes);
    const reference = referenceCalibrationStats(await loadReferenceWeights(checkpoint), windows).stats;
    for (const l of [0, 1]) {
      const got = stats.layers[l]!;
      const ref = reference.layers[l]!;
      expect(Array.from(got.coactivation)).toEqual(Array.from(ref.coactivation));
      expectClose(got.experts[3].inputSqNormGated, ref.experts[3].inputSqNormGated, {
        rtol: 1e-4,
        atol: 1e-9,
        label: `layer ${l} expert 3 input_sqnorm_gated`,
      });
      expectClose(got.shared!.interSqNormGated, ref.shared!.interSqNormGated, { rtol: 1e-4, atol: 1e-9, label: `layer ${l} shared inter_sqnorm_gated` });
    }
  });

  it('--text: N windows of L tokens drawn with the seed from the tokenized text (docs/calibration.md)', async () => {
    // The mixtral fixture plus a word-level tokenizer over 20 words, and a text of those words.
    const model = join(work, 'mixtral-with-tokenizer');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(model, { recursive: true });
    for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(fixtureDir('mixtral'), f), join(model, f));
    const words = 'the a of and to in is was it for on with as by at he his that from this'.split(' ');
    const vocab = Object.fromEntries([['[UNK]', 0], ...words.map((w, i) => [w, i + 1])]);
    const tokenizerJson = {
      version: '1.0',
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab, unk_token: '[UNK]' },
    };
    writeFileSync(join(model, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    const text = Array.from({ length: 300 }, (_, i) => words[(i * 7 + (i >> 3)) % words.length]).join(' ');
    const textFile = join(work, 'text.txt');
    writeFileSync(textFile, text);
    const outFile = join(work, 'text-stats.safetensors');
    const result = await run(['calibrate', '--model', model, '--text', textFile, '--samples', '5', '--seq-len', '24', '--seed', '7', '--out', outFile]);
    // Tiny calibration sets leave experts under the coverage threshold: only those warnings may appear.
    expect(result.err.split('\n').filter((line) => line && !/got fewer than \d+ calibration tokens/.test(line))).toEqual([]);
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/dense statistics of 120 tokens \(5 windows of 24\)/);
    const bytes = new Uint8Array(readFileSync(outFile));
    const header = await readSafetensorsHeader(new MemoryByteSource('s', bytes));
    expect(header.metadata).toMatchObject({ samples: '5', seq_len: '24', seed: '7', text_tokens: '300', tokens: '120' });
    // The same windows, drawn here by the documented rule, give the same statistics through the reference.
    const stream = loadTokenizer(tokenizerJson).encode(text, { addSpecialTokens: false });
    const windows = sampleWindows(stream, { samples: 5, seqLen: 24, seed: 7 });
    const checkpoint = await openFixture('mixtral');
    const reference = referenceCalibrationStats(await loadReferenceWeights(checkpoint), windows).stats;
    const stats = statsFromSafetensors(checkpoint.spec, header, bytes);
    expect(Array.from(stats.layers[1]!.expertTokens)).toEqual(Array.from(reference.layers[1]!.expertTokens));
    expectClose(stats.layers[1]!.experts[0].interSqNorm, reference.layers[1]!.experts[0].interSqNorm, { rtol: 1e-4, atol: 1e-9, label: 'inter_sqnorm' });
  });

  it('refuses bad input with one line and a non-zero exit', async () => {
    const model = fixtureDir('mixtral');
    const idsFile = join(work, 'ids-ok.json');
    writeFileSync(idsFile, JSON.stringify([1, 2, 3, 4]));
    const badIds = join(work, 'ids-bad.json');
    writeFileSync(badIds, JSON.stringify([1, 2, 99999]));
    const ragged = join(work, 'ids-ragged.json');
    writeFileSync(ragged, JSON.stringify([[1, 2], [3]]));
    const out = join(work, 'never.safetensors');
    const cases: [string[], number, RegExp][] = [
      [['--ids', idsFile, '--out', out, '--mode', 'sequential'], 2, /--mode sequential .* needs a pruning method/],
      [['--ids', idsFile], 2, /--out is required/],
      [['--ids', idsFile, '--text', idsFile, '--out', out], 2, /exactly one of --ids and --text/],
      [['--ids', idsFile, '--samples', '4', '--out', out], 2, /with --ids the file gives the windows/],
      [['--ids', badIds, '--out', out], 1, /ids-bad\.json.*99999 is outside the vocabulary/],
      [['--ids', ragged, '--out', out], 1, /ids-ragged\.json.*same length/],
      [['--text', idsFile, '--out', out], 1, /tokenizer\.json.*--text needs the model tokenizer/],
    ];
    for (const [args, code, message] of cases) {
      const result = await run(['calibrate', '--model', model, ...args]);
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.err.split('\n')[0], args.join(' ')).toMatch(message);
    }
  });
});
