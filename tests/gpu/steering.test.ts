/**
 * Steering (`--disable-experts`, src/engine/model/steering.ts) on tests/fixtures/lab-tiny: switching an expert off
 * is exactly dropping it — ppl --disable-experts equals ppl --masks of a file that drops the same experts; logits
 * change while the router's own logits do not; `generate` is deterministic (greedy, and sampled with a seed), the
 * lab service's generate with `disabledExperts` gives the CLI's continuation, switching experts everywhere changes
 * it, the lab service reports the first step's next-token probabilities, and out-of-range or malformed switches are
 * one-line usage errors; every shipped model's `lessonExpert` (public/models/index.json, the guided tour's expert)
 * changes the lesson's continuation when it is switched off. `--force-expert`: the GPU forward with a forced expert equals the CPU reference forward, the
 * commands take it, and conflicting forcings are refused.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliText as run } from '../helpers/cli.ts';
import { FileByteSource, directoryFolder } from '../../src/cli/fs-folder.ts';
import { nodeLab } from '../../src/cli/node-lab.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { masksToSafetensors } from '../../src/engine/prune/masks-file.ts';
import { LESSON_GENERATION } from '../../src/engine/experiment/vocabulary.ts';
import { parseExpertSwitches, steerMaskSet } from '../../src/engine/model/steering.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { maskReferenceWeights } from '../../src/engine/reference/masked-weights.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { uploadMasks } from '../../src/gpu/model/gpu-mask-set.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { expectClose } from '../helpers/tolerance.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const LAB_TINY = resolve('tests/fixtures/lab-tiny');
const dir = scratchDir('moe-lab-steering-');

async function tensor(file: string, name: string): Promise<Float32Array> {
  const source = new FileByteSource(file);
  const header = await readSafetensorsHeader(source);
  const info = header.tensors.get(name)!;
  return bytesToFloat32(info, await readTensorBytes(source, info));
}

const ids = join(dir, 'ids.json');
writeFileSync(ids, JSON.stringify(Array.from({ length: 40 }, (_, i) => (i * 37 + 11) % 512)));

describe('--disable-experts', () => {
  it('ppl: switching experts off equals a masks file that drops them, and differs from dense', async () => {
    const { spec } = await openCheckpoint(await directoryFolder(LAB_TINY));
    const enabled = (off: number[]) => Uint8Array.from({ length: spec.numExperts }, (_, e) => (off.includes(e) ? 0 : 1));
    const masksFile = join(dir, 'drop.safetensors');
    writeFileSync(
      masksFile,
      masksToSafetensors(spec, {
        layers: [
          { matrices: {}, expertEnabled: enabled([1, 3]) },
          { matrices: {}, expertEnabled: enabled([3]) },
        ],
      }),
    );
    const ppl = async (...extra: string[]) => {
      const r = await run(['ppl', '--model', LAB_TINY, '--ids', ids, '--json', ...extra]);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out).nll as number;
    };
    const dense = await ppl();
    const steered = await ppl('--disable-experts', '0:1,*:3');
    expect(steered).toBe(await ppl('--masks', masksFile));
    expect(steered).not.toBe(dense);
    // Steering on top of masks: the union of switched-off experts.
    expect(await ppl('--masks', masksFile, '--disable-experts', '0:1')).toBe(steered);
  });

  it('logits: the output changes, the router logits (the router itself) do not', async () => {
    const dense = join(dir, 'dense.safetensors');
    const steered = join(dir, 'steered.safetensors');
    expect((await run(['logits', '--model', LAB_TINY, '--ids', ids, '--out', dense])).code).toBe(0);
    const r = await run(['logits', '--model', LAB_TINY, '--ids', ids, '--out', steered, '--disable-experts', '1:0']);
    expect(r.code, r.err).toBe(0);
    expect(Array.from(await tensor(steered, 'layers.0.router_logits'))).toEqual(Array.from(await tensor(dense, 'layers.0.router_logits')));
    const a = await tensor(dense, 'logits');
    const b = await tensor(steered, 'logits');
    expect(a.some((v, i) => v !== b[i])).toBe(true);
  });

  it('generate: deterministic, the lab service agrees, and switching experts off changes the continuation', async () => {
    const generate = async (...extra: string[]) => {
      const r = await run(['generate', '--model', LAB_TINY, '--prompt', 'The jury said', '--tokens', '8', '--json', ...extra]);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as { text: string; tokenTexts: string[]; disabledExperts: string; sampling: unknown };
    };
    const dense = await generate();
    expect(dense.tokenTexts.length).toBeGreaterThan(0);
    expect((await generate()).text).toBe(dense.text);
    const steered = await generate('--disable-experts', '*:0,*:1,*:2,*:3');
    expect(steered.disabledExperts).toBe('*:0,*:1,*:2,*:3');
    expect(steered.text).not.toBe(dense.text);
    const sampled = await generate('--temperature', '0.8', '--seed', '7');
    expect(sampled.sampling).toEqual({ kind: 'sample', temperature: 0.8, seed: 7 });
    expect((await generate('--temperature', '0.8', '--seed', '7')).text).toBe(sampled.text);

    const lab = nodeLab('steering test');
    try {
      await lab.loadFolder(await directoryFolder(LAB_TINY));
      const request = { prompt: 'The jury said', maxNewTokens: 8, sampling: { kind: 'greedy' as const }, variant: 'dense' as const };
      expect((await lab.generate({ ...request, disabledExperts: [0, 1, 2, 3].map((expert) => ({ layer: '*' as const, expert })) })).text).toBe(steered.text);
      const plain = await lab.generate(request);
      expect(plain.text).toBe(dense.text);
      // The next-token probabilities: five, most probable first, and greedy decoding took the first of them.
      expect(plain.nextTokens).toHaveLength(5);
      plain.nextTokens.slice(1).forEach((t, i) => expect(t.p).toBeLessThanOrEqual(plain.nextTokens[i].p));
      expect(plain.nextTokens.reduce((n, t) => n + t.p, 0)).toBeLessThanOrEqual(1 + 1e-9);
      expect(plain.nextTokens[0].text).toBe(plain.tokenTexts[0]);
      await expect(lab.generate({ ...request, disabledExperts: [{ layer: 0, expert: 8 }] })).rejects.toThrow(/expert 8 is out of range/);
    } finally {
      await lab.dispose();
    }
  });

  it("every shipped model's lessonExpert, switched off in every layer, changes the lesson's greedy continuation", async () => {
    const index = JSON.parse(readFileSync('public/models/index.json', 'utf8')) as { id: string; path: string; default?: boolean; lessonExpert?: number }[];
    const lessons = index.filter((m) => m.lessonExpert !== undefined);
    // The page's default model has one: the tour's steering step runs on it.
    expect(lessons.map((m) => m.id)).toContain(index.find((m) => m.default)?.id);
    for (const m of lessons) {
      const { prompt, tokens } = LESSON_GENERATION;
      const generate = async (...extra: string[]) => {
        const r = await run(['generate', '--model', join('public', m.path), '--prompt', prompt, '--tokens', String(tokens), '--json', ...extra]);
        expect(r.code, r.err).toBe(0);
        return (JSON.parse(r.out) as { text: string }).text;
      };
      expect(await generate('--disable-experts', `*:${m.lessonExpert}`), m.id).not.toBe(await generate());
    }
  });

  it('refuses out-of-range and malformed switches with one line naming the value', async () => {
    const bad = async (value: string, message: RegExp) => {
      const r = await run(['ppl', '--model', LAB_TINY, '--ids', ids, '--disable-experts', value]);
      expect(r.code).toBe(2);
      expect(r.err.split('\n')[0]).toMatch(message);
    };
    await bad('2:0', /--disable-experts 2:0: layer 2 is not a MoE layer of this model \(MoE layers 0, 1\)/);
    await bad('*:8', /expert 8 is out of range \(this model has experts 0 to 7\)/);
    await bad('0-1', /'0-1' is not LAYER:EXPERT/);
  });
});

describe('--force-expert', () => {
  it('the GPU forward with a forced expert equals the CPU reference forward (every token to that expert, gate 1)', async () => {
    const ctx = await gpu();
    const checkpoint = await openCheckpoint(await directoryFolder(LAB_TINY));
    const { spec } = checkpoint;
    const tokens = JSON.parse(readFileSync(ids, 'utf8')) as number[];
    const weights = await loadReferenceWeights(checkpoint);
    await withinErrorScopes(ctx, async () => {
      const model = await GpuModel.upload(ctx, checkpoint);
      const forward = new GpuForward(model, 1, tokens.length);
      try {
        // Layer 1 forced alone, then every layer forced with an expert switched off elsewhere as well.
        for (const [off, forced] of [
          ['', '1:5'],
          ['0:2', '*:3'],
        ]) {
          const maskSet = steerMaskSet(null, parseExpertSwitches(off), spec, parseExpertSwitches(forced));
          const masks = await uploadMasks(model, maskSet);
          const got = await forward.run({ ids: tokens, logits: true, masks, taps: ['moeOutput'] });
          masks.destroy();
          const ref = referenceForward(maskReferenceWeights(weights, maskSet), tokens, { trace: true });
          expectClose(got.logits!, ref.logits, { atol: 1e-3, rtol: 0, label: `forced ${forced} logits` });
          for (let l = 0; l < spec.numLayers; l++) {
            expectClose(got.layers[l].moeOutput!, ref.moe[l]!.output, { atol: 1e-3, rtol: 0, label: `forced ${forced} layer ${l} moe_output` });
          }
        }
      } finally {
        forward.destroy();
        model.destroy();
      }
    });
  });

  it('ppl, logits and generate take it; the router logits stay; a second expert for a layer or an unknown one is refused', async () => {
    const ppl = async (...extra: string[]) => {
      const r = await run(['ppl', '--model', LAB_TINY, '--ids', ids, '--json', ...extra]);
      return { ...r, nll: r.code === 0 ? (JSON.parse(r.out).nll as number) : NaN };
    };
    const dense = await ppl();
    const forced = await ppl('--force-expert', '*:2');
    expect(forced.code, forced.err).toBe(0);
    expect(forced.nll).not.toBe(dense.nll);
    const dense0 = join(dir, 'dense-forced.safetensors');
    const steered = join(dir, 'forced.safetensors');
    expect((await run(['logits', '--model', LAB_TINY, '--ids', ids, '--out', dense0])).code).toBe(0);
    expect((await run(['logits', '--model', LAB_TINY, '--ids', ids, '--out', steered, '--force-expert', '0:4'])).code).toBe(0);
    expect(Array.from(await tensor(steered, 'layers.0.router_logits'))).toEqual(Array.from(await tensor(dense0, 'layers.0.router_logits')));
    const g = await run(['generate', '--model', LAB_TINY, '--prompt', 'The jury said', '--tokens', '8', '--json', '--force-expert', '*:2']);
    expect(g.code, g.err).toBe(0);
    expect(JSON.parse(g.out)).toMatchObject({ forcedExperts: '*:2', disabledExperts: '' });
    const refused = await ppl('--force-expert', '*:2,0:3');
    expect(refused.code).toBe(2);
    expect(refused.err.split('\n')[0]).toMatch(/--force-expert layer 0 is forced to both expert 2 and expert 3/);
    const both = await ppl('--force-expert', '0:1', '--disable-experts', '0:1');
    expect(both.code).toBe(2);
    expect(both.err.split('\n')[0]).toMatch(/steering 0:1: expert 1 is switched off or dropped in layer 0/);
  });
});
