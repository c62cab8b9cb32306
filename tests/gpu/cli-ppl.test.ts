/**
 * `moe-lab ppl` and `moe-lab logits` in-process on the GPU: ppl --ids equals each fixture's perplexity
 * (reference.json) to 1e-4 relative; ppl --text tokenizes with the model's tokenizer.json; logits writes `logits`
 * and `layers.{i}.router_logits` matching transformers to 1e-3.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { FileByteSource } from '../../src/cli/fs-folder.ts';
import { planWindows } from '../../src/engine/eval/windows.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { FIXTURES, fixtureDir, readFixtureReference } from '../helpers/fixtures.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const dir = scratchDir('moe-lab-cli-gpu-');

describe('moe-lab ppl --ids', () => {
  it.each(FIXTURES)('%s: equals transformers perplexity to 1e-4 relative', async (name) => {
    const ref = await readFixtureReference(name);
    const ids = join(dir, `${name}-ids.json`);
    writeFileSync(ids, JSON.stringify(ref.inputIds));
    const r = await run(['ppl', '--model', fixtureDir(name), '--ids', ids, '--json']);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out[0]) as { tokens: number; nll: number; ppl: number };
    expect(report.tokens).toBe(ref.inputIds.length - 1);
    expect(Math.abs(report.nll - ref.meanNll) / ref.meanNll).toBeLessThan(1e-4);
    expect(Math.abs(report.ppl - ref.perplexity) / ref.perplexity).toBeLessThan(1e-4 * ref.meanNll * 1.01);
  });
});

describe('moe-lab ppl --text', () => {
  it('encodes the text with the model tokenizer.json and scores it like --ids of the same tokens', async () => {
    // A small word-level tokenizer beside a copy of the mixtral fixture (which has none).
    const model = join(dir, 'mixtral-with-tokenizer');
    const words = ['[UNK]', '<s>', 'the', 'cat', 'sat', 'on', 'mat', 'a', 'dog', '.'];
    const tokenizerJson = {
      version: '1.0',
      added_tokens: [{ id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
      normalizer: { type: 'Lowercase' },
      pre_tokenizer: { type: 'Whitespace' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [],
        special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
      },
      decoder: null,
      model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '[UNK]' },
    };
    mkdirSync(model);
    for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(fixtureDir('mixtral'), file), join(model, file));
    writeFileSync(join(model, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(model, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>' }));
    const text = 'The cat sat on the mat . A dog sat on a cat . The dog sat . '.repeat(3);
    const textFile = join(dir, 'text.txt');
    writeFileSync(textFile, text);
    const ids = loadTokenizer(tokenizerJson, { bos_token: '<s>' }).encode(text);
    expect(ids[0]).toBe(1);
    const idsFile = join(dir, 'text-ids.json');
    writeFileSync(idsFile, JSON.stringify(ids));

    const byText = await run(['ppl', '--model', model, '--text', textFile, '--ctx', '16', '--json']);
    expect(byText.err).toEqual([]);
    const byIds = await run(['ppl', '--model', model, '--ids', idsFile, '--ctx', '16', '--json']);
    const a = JSON.parse(byText.out[0]) as { tokens: number; nll: number; windows: number };
    const b = JSON.parse(byIds.out[0]) as { tokens: number; nll: number };
    expect(a.tokens).toBe(planWindows(ids.length, 16).predictions);
    expect(a).toEqual(b);
    const capped = await run(['ppl', '--model', model, '--text', textFile, '--ctx', '16', '--max-tokens', '20', '--json']);
    expect(JSON.parse(capped.out[0]).tokens).toBe(15 + 3);
  });
});

describe('moe-lab logits', () => {
  it.each(['granitemoe', 'qwen2_moe'] as const)('%s: writes logits and router logits matching transformers', async (name) => {
    const ref = await readFixtureReference(name);
    const ids = join(dir, `${name}-logits-ids.json`);
    const out = join(dir, `${name}-logits.safetensors`);
    writeFileSync(ids, JSON.stringify(ref.inputIds));
    const r = await run(['logits', '--model', fixtureDir(name), '--ids', ids, '--out', out]);
    expect(r.err).toEqual([]);
    expect(r.out[0]).toMatch(/wrote .*logits \[96, 512\] and router logits of 2 MoE layers/);
    const source = new FileByteSource(out);
    const header = await readSafetensorsHeader(source);
    expect([...header.tensors.keys()].sort()).toEqual(['layers.0.router_logits', 'layers.1.router_logits', 'logits']);
    const tensor = async (key: string) => bytesToFloat32(header.tensors.get(key)!, await readTensorBytes(source, header.tensors.get(key)!));
    expect(header.tensors.get('logits')!.shape).toEqual([96, 512]);
    expectClose(await tensor('logits'), ref.tensors.get('logits')!, { atol: 1e-3, rtol: 0, label: `${name} logits` });
    if (ref.tensors.has('layers.1.router_logits')) {
      expectClose(await tensor('layers.1.router_logits'), ref.tensors.get('layers.1.router_logits')!, { atol: 1e-3, rtol: 0, label: `${name} router logits` });
    }
    expect(header.tensors.get('layers.0.router_logits')!.shape).toEqual([96, 8]);
  });
});
