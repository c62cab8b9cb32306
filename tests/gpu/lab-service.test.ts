/**
 * The page's engine (LabService, what the worker hosts) on a real GPU: texts, calibration, the router inspector,
 * perplexity, the per-token loss and generation on tests/fixtures/lab-tiny (the Mixtral fixture with a 512-token
 * BPE), each checked against the lower-level function it wraps or the CPU reference forward.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineError } from '../../src/api/errors.ts';
import { sampleWindows } from '../../src/engine/calibration/sampling.ts';
import { statsFromSafetensors } from '../../src/engine/calibration/stats.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { referenceForward } from '../../src/engine/reference/forward.ts';
import { loadReferenceWeights } from '../../src/engine/reference/weights.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { filesFolder } from '../../src/engine/io/files-folder.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { evaluatePerplexity } from '../../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { gpu } from './gpu-context.ts';

const ROOT = join(import.meta.dirname, '../..');
const SITE = 'http://lab.test/';
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const LAB_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

/** The site's public/ folder over fetch. */
async function siteFetch(input: string): Promise<Response> {
  if (!input.startsWith(SITE)) return new Response('no route', { status: 404 });
  try {
    return new Response(readFileSync(join(ROOT, 'public', input.slice(SITE.length))) as Uint8Array<ArrayBuffer>, { status: 200 });
  } catch {
    return new Response('Not Found', { status: 404 });
  }
}

const labFiles = () => LAB_FILES.map((f) => ({ path: `lab-tiny/${f}`, file: new File([readFileSync(join(LAB_TINY, f))], f) }));

async function labEngine(): Promise<LabService> {
  const engine = new LabService({ assetBase: SITE, fetch: siteFetch, openGpu: gpu, openCache: async () => null });
  await engine.loadModel({ kind: 'files', files: labFiles() });
  return engine;
}

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: EngineError) => error,
  );

describe('LabService computations on lab-tiny', () => {
  it('lists the page texts with the Brown genres', async () => {
    const engine = await labEngine();
    const texts = await engine.texts();
    const brown = texts.find((t) => t.id === 'brown-heldout')!;
    expect(brown.genres.map((g) => g.id)).toContain('belles_lettres');
    expect(brown.genres).toHaveLength(13);
    expect(brown.genres.reduce((n, g) => n + g.documents, 0)).toBe(41);
    expect(texts.find((t) => t.id === 'tiny-shakespeare')!.genres).toEqual([]);
  });

  it('calibrates like calibrateOnGpu on the same seeded windows, and the file reads back', async () => {
    const engine = await labEngine();
    const request = { text: { kind: 'corpus' as const, id: 'brown-heldout', genre: 'news' }, samples: 6, seqLen: 32, seed: 7 };
    const summary = await engine.calibrate(request);
    expect(summary.tokens).toBe(6 * 32);
    expect(summary.layers.map((l) => l.layer)).toEqual([0, 1]);
    for (const layer of summary.layers) expect(layer.expertTokens.reduce((a, b) => a + b, 0)).toBe(6 * 32 * 2);

    // The same windows through the lower-level path.
    const checkpoint = await openCheckpoint(filesFolder(labFiles()));
    const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig);
    const brown = readFileSync(join(ROOT, 'public/data/brown/heldout.txt'));
    const index = JSON.parse(readFileSync(join(ROOT, 'public/data/brown/heldout.index.json'), 'utf8')) as { genre: string; start: number; end: number }[];
    const news = index
      .filter((d) => d.genre === 'news')
      .map((d) => brown.subarray(d.start, d.end).toString('utf8'))
      .join('\n\n');
    const windows = sampleWindows(tokenizer.encode(news, { addSpecialTokens: false }), request);
    const model = await GpuModel.upload(await gpu(), checkpoint);
    const direct = await calibrateOnGpu(model, windows);
    model.destroy();
    expect(Array.from(summary.layers[1].expertTokens)).toEqual(Array.from(direct.stats.layers[1]!.expertTokens));
    expect(Array.from(summary.layers[0].expertGateSum)).toEqual(Array.from(direct.stats.layers[0]!.expertGateSum));

    const [file] = await engine.exportFiles({ kind: 'statistics', zip: false });
    expect(file.path).toBe('calibration-stats.safetensors');
    const header = await readSafetensorsHeader({ name: file.path, size: async () => file.bytes.length, read: async (o, n) => file.bytes.subarray(o, o + n) });
    const back = statsFromSafetensors(checkpoint.spec, header, file.bytes);
    expect(back.tokens).toBe(6 * 32);
    expect(back.metadata).toMatchObject({ source: 'text:brown-heldout.news', samples: '6', seq_len: '32', seed: '7' });
    expect(Array.from(back.layers[0]!.coactivation)).toEqual(Array.from(direct.stats.layers[0]!.coactivation));
  });

  it('inspects routing: loads, co-activation and the load of every genre', async () => {
    const engine = await labEngine();
    const report = await engine.inspect({ text: { kind: 'corpus', id: 'brown-heldout' }, tokens: 48, bySource: true });
    expect(report.tokenTexts).toHaveLength(48);
    expect(report.tokenTexts.join('')).toBe(readFileSync(join(ROOT, 'public/data/brown/heldout.txt'), 'utf8').slice(0, report.tokenTexts.join('').length));
    expect(report.pruned).toBeNull();
    expect(report.dense.layers).toHaveLength(2);
    for (const layer of report.dense.layers) {
      expect(layer.load.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      expect(layer.expertIds).toHaveLength(48 * 2);
      // The diagonal counts tokens per expert: K per token in all.
      expect(Array.from({ length: 8 }, (_, e) => layer.coactivation[e * 8 + e]).reduce((a, b) => a + b, 0)).toBe(48 * 2);
      expect(layer.gateHistogram.flat().reduce((a, b) => a + b, 0)).toBe(48 * 2);
      expect(layer.entropyHistogram.reduce((a, b) => a + b, 0)).toBe(48);
    }
    expect(report.sources).toHaveLength(13);
    expect(report.sources[0]).toMatchObject({ id: 'news', name: 'Press: reportage', tokens: 48 });
    // The first genre is the start of the text: its load equals the main view's.
    expect(report.sources[0].dense[0]).toEqual(report.dense.layers[0].load);
  });

  it('evaluates perplexity like evaluatePerplexity, pooled over genres, and refuses a pruned run before pruning', async () => {
    const engine = await labEngine();
    const text = { kind: 'corpus' as const, id: 'tiny-shakespeare' };
    const report = await engine.evaluate({ text, ctx: 64, maxTokens: 300, byGenre: false, variants: ['dense'] });
    const checkpoint = await openCheckpoint(filesFolder(labFiles()));
    const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig);
    const ids = tokenizer.encode(readFileSync(join(ROOT, 'public/data/tinyshakespeare/input.txt'), 'utf8').slice(0, 4000)).slice(0, 300);
    const model = await GpuModel.upload(await gpu(), checkpoint);
    const direct = await evaluatePerplexity(model, ids, { ctx: 64 });
    expect(report.results[0].overall).toEqual({ tokens: direct.tokens, nll: direct.nll, ppl: direct.ppl });

    const genres = await engine.evaluate({ text: { kind: 'corpus', id: 'brown-heldout' }, ctx: 32, maxTokens: 13 * 40, byGenre: true, variants: ['dense'] });
    const parts = genres.results[0].genres;
    // The genres share batches; each one's number equals evaluatePerplexity on its own 40 tokens (32 + 8).
    const brown = readFileSync(join(ROOT, 'public/data/brown/heldout.txt'));
    const index = JSON.parse(readFileSync(join(ROOT, 'public/data/brown/heldout.index.json'), 'utf8')) as { genre: string; start: number; end: number }[];
    const learned = index
      .filter((d) => d.genre === 'learned')
      .map((d) => brown.subarray(d.start, d.end).toString('utf8'))
      .join('\n\n');
    const alone = await evaluatePerplexity(model, tokenizer.encode(learned.slice(0, 2000)).slice(0, 40), { ctx: 32 });
    model.destroy();
    expect(parts.find((g) => g.id === 'learned')).toMatchObject({ tokens: alone.tokens, nll: alone.nll, ppl: alone.ppl });
    expect(parts).toHaveLength(13);
    const tokens = parts.reduce((n, g) => n + g.tokens, 0);
    expect(genres.results[0].overall.tokens).toBe(tokens);
    expect(genres.results[0].overall.nll).toBeCloseTo(parts.reduce((s, g) => s + g.nll * g.tokens, 0) / tokens, 10);

    const refused = await errorOf(engine.evaluate({ text, ctx: 64, maxTokens: 300, byGenre: false, variants: ['pruned'] }));
    expect(refused).toMatchObject({ kind: 'bad-request', message: expect.stringContaining('Nothing is pruned yet') });
  });

  it('scores every token and generates the reference forward’s greedy continuation', async () => {
    const engine = await labEngine();
    const loss = await engine.tokenLoss({ text: { kind: 'corpus', id: 'brown-heldout' }, tokens: 40 });
    expect(loss.tokenTexts).toHaveLength(40);
    expect(Number.isNaN(loss.dense[0])).toBe(true);
    const checkpoint = await openCheckpoint(filesFolder(labFiles()));
    const tokenizer = loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig);
    const weights = await loadReferenceWeights(checkpoint);
    const ids = tokenizer.encode(readFileSync(join(ROOT, 'public/data/brown/heldout.txt'), 'utf8').slice(0, 400)).slice(0, 40);
    const ref = referenceForward(weights, ids);
    const V = checkpoint.spec.vocabSize;
    for (const t of [1, 17, 39]) {
      const row = ref.logits.subarray((t - 1) * V, t * V);
      const max = Math.max(...row);
      const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      expect(loss.dense[t]).toBeCloseTo(logSum - row[ids[t]], 3);
    }

    const prompt = 'The jury said';
    const greedy = await engine.generate({ prompt, maxNewTokens: 6, sampling: { kind: 'greedy' }, variant: 'dense' });
    const context = tokenizer.encode(prompt);
    const expected: number[] = [];
    for (let i = 0; i < greedy.tokenTexts.length; i++) {
      const logits = referenceForward(weights, [...context, ...expected]).logits;
      const row = logits.subarray((context.length + expected.length - 1) * V);
      expected.push(row.indexOf(Math.max(...row)));
    }
    expect(greedy.text).toBe(tokenizer.decode(expected));
    const sampled = { prompt, maxNewTokens: 6, sampling: { kind: 'sample' as const, seed: 3, temperature: 1 }, variant: 'dense' as const };
    expect((await engine.generate(sampled)).text).toBe((await engine.generate(sampled)).text);
  });

  it('says a model without a tokenizer cannot read text', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: siteFetch, openGpu: gpu, openCache: async () => null });
    const mixtral = join(ROOT, 'tests/fixtures/hf-tiny/mixtral');
    await engine.loadModel({ kind: 'files', files: ['config.json', 'model.safetensors'].map((f) => new File([readFileSync(join(mixtral, f))], f)) });
    const error = await errorOf(engine.calibrate({ text: { kind: 'corpus', id: 'brown-heldout' }, samples: 2, seqLen: 16, seed: 0 }));
    expect(error).toMatchObject({ kind: 'no-tokenizer', message: expect.stringContaining('calibration needs one') });
  });
});
