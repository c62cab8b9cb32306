/**
 * Fidelity through the page's engine (LabService) on tests/fixtures/lab-tiny: evaluating dense and pruned together
 * gives the same perplexities as evaluating each alone (per genre too) plus KL and top-1 agreement, overall pooled
 * from the genres' windows; a sweep point reports the fidelity of its own pruning, and with benchmark items the
 * accuracy the same pruning gets in force (BLiMP accuracy as a sweep metric).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PruneRequest } from '../../src/api/lab.ts';
import { selectBlimp, SHIPPED_BLIMP_FILE } from '../../src/engine/eval/benchmark-selection.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { gpu } from './gpu-context.ts';

const ROOT = join(import.meta.dirname, '../..');
const SITE = 'http://lab.test/';
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

async function siteFetch(input: string): Promise<Response> {
  try {
    return new Response(readFileSync(join(ROOT, 'public', input.slice(SITE.length))) as Uint8Array<ArrayBuffer>, { status: 200 });
  } catch {
    return new Response('Not Found', { status: 404 });
  }
}

const calibration = { text: { kind: 'corpus' as const, id: 'brown-heldout' }, samples: 4, seqLen: 32, seed: 3, mode: 'dense' as const };
const request = (patch: Partial<PruneRequest> = {}): PruneRequest => ({
  calibration,
  method: 'wanda',
  sparsity: 0.5,
  pattern: { kind: 'unstructured' },
  group: 'row',
  allocation: 'uniform',
  expertsDrop: 0,
  expertCriterion: 'frequency',
  targets: ['experts'],
  ...patch,
});

describe('LabService: fidelity of the pruned model', () => {
  it('evaluate(dense + pruned) = each alone, plus KL and top-1 agreement per genre and pooled; a sweep point = its pruning in force, benchmark accuracy too', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: siteFetch, openGpu: gpu, openCache: async () => null });
    await engine.loadModel({ kind: 'files', files: FILES.map((f) => ({ path: `m/${f}`, file: new File([readFileSync(join(LAB_TINY, f))], f) })) });
    await engine.prune(request());
    const evaluation = { text: { kind: 'corpus' as const, id: 'brown-heldout' }, ctx: 32, maxTokens: 13 * 40, byGenre: true };
    const both = await engine.evaluate({ ...evaluation, variants: ['dense', 'pruned'] });
    const dense = await engine.evaluate({ ...evaluation, variants: ['dense'] });
    const pruned = await engine.evaluate({ ...evaluation, variants: ['pruned'] });
    expect(both.results).toEqual([dense.results[0], pruned.results[0]]);
    expect(dense.fidelity).toBeNull();
    const fidelity = both.fidelity!;
    expect(fidelity.genres.map((g) => g.id)).toEqual(both.results[0].genres.map((g) => g.id));
    expect(fidelity.genres.map((g) => g.tokens)).toEqual(both.results[0].genres.map((g) => g.tokens));
    expect(fidelity.overall.tokens).toBe(both.results[0].overall.tokens);
    expect(fidelity.overall.windows).toBe(fidelity.genres.reduce((n, g) => n + g.windows, 0));
    const weighted = (key: 'kl' | 'top1Agreement') => fidelity.genres.reduce((s, g) => s + g[key] * g.tokens, 0) / fidelity.overall.tokens;
    expect(fidelity.overall.kl).toBeCloseTo(weighted('kl'), 12);
    expect(fidelity.overall.top1Agreement).toBeCloseTo(weighted('top1Agreement'), 12);
    expect(fidelity.overall.kl).toBeGreaterThan(0);
    expect(fidelity.overall.top1Agreement).toBeLessThan(1);

    // A sweep point compares its own pruning with the dense model on the evaluation windows.
    const { ctx, maxTokens, text } = evaluation;
    const point = await engine.sweepPoint({ prune: request({ sparsity: 0.25 }), evaluate: { ctx, maxTokens, text } });
    expect(point.fidelity.tokens).toBe(point.perplexity.tokens);
    // The same pruning put in force and evaluated gives the same numbers.
    await engine.prune(request({ sparsity: 0.25 }));
    const again = await engine.evaluate({ ctx, maxTokens, text, byGenre: false, variants: ['dense', 'pruned'] });
    expect(again.fidelity!.overall).toEqual(point.fidelity);
    expect(again.results[1].overall.ppl).toBeCloseTo(point.perplexity.ppl, 10);
    expect(point.fidelity.kl).toBeLessThan(fidelity.overall.kl);
    // With benchmark items a sweep point also scores them under its pruning: BLiMP accuracy as a sweep metric.
    expect(point.benchmark).toBeUndefined();
    const lines = readFileSync(join(ROOT, 'public', SHIPPED_BLIMP_FILE), 'utf8')
      .split('\n')
      .filter((l) => l.trim());
    const { file, lines: chosen } = selectBlimp(lines, 'blimp.morphology');
    // One pair per paradigm of the morphology field: 18 pairs.
    const benchmark = { tasks: [{ file, text: chosen.join('\n') }], limit: 1 };
    const scored = await engine.sweepPoint({ prune: request({ method: 'magnitude', sparsity: 0.75 }), evaluate: { ctx, maxTokens, text }, benchmark });
    expect(scored.benchmark!.items).toBe(18);
    await engine.prune(request({ method: 'magnitude', sparsity: 0.75 }));
    const inForce = await engine.benchmark({ ...benchmark, variants: ['pruned'], perItem: false });
    expect(scored.benchmark!.accuracy).toBe(inForce.results[0].accuracy);
    await engine.dispose();
  });
});
