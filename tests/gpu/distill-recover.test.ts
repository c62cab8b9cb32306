/**
 * The page's Recover step through LabService on a non-Mixtral model: the hf-tiny Qwen3-MoE fixture (per-head q/k
 * norm) with lab-tiny's 512-token tokenizer. Refused before pruning; after pruning it runs in chunks (the curves
 * grow, the step carries over layers: pause / resume), reports the three perplexities on the same windows once
 * finished with every pruned weight still 0, exports the distilled folder with its report, and starts over when the
 * pruning changes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineError } from '../../src/api/errors.ts';
import type { PruneRequest } from '../../src/api/lab.ts';
import type { RecoverRequest } from '../../src/api/recover.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { gpu } from './gpu-context.ts';

const ROOT = join(import.meta.dirname, '../..');
const SITE = 'http://lab.test/';
const FILES = [
  ['tests/fixtures/hf-tiny/qwen3_moe', 'config.json'],
  ['tests/fixtures/hf-tiny/qwen3_moe', 'model.safetensors'],
  ['tests/fixtures/lab-tiny', 'tokenizer.json'],
  ['tests/fixtures/lab-tiny', 'tokenizer_config.json'],
];

async function siteFetch(input: string): Promise<Response> {
  try {
    return new Response(readFileSync(join(ROOT, 'public', input.slice(SITE.length))) as Uint8Array<ArrayBuffer>, { status: 200 });
  } catch {
    return new Response('Not Found', { status: 404 });
  }
}

const brown = { kind: 'corpus' as const, id: 'brown-heldout' };
const pruneRequest: PruneRequest = {
  calibration: { text: brown, samples: 4, seqLen: 32, seed: 3, mode: 'dense' },
  method: 'moe-pruner',
  sparsity: 0.5,
  pattern: { kind: 'unstructured' },
  group: 'row',
  allocation: 'uniform',
  expertsDrop: 0,
  expertCriterion: 'frequency',
  targets: ['experts'],
};
const request = (patch: Partial<RecoverRequest> = {}): RecoverRequest => ({
  training: { text: { kind: 'corpus', id: 'brown-heldout', genre: 'news' }, samples: 8, seqLen: 32, seed: 1 },
  steps: 2,
  lr: 3e-3,
  batch: 2,
  untilStep: 2,
  evaluation: { text: { kind: 'corpus', id: 'brown-heldout', genre: 'fiction' }, ctx: 64, maxTokens: 512 },
  restart: false,
  ...patch,
});

describe('Recover step through LabService', () => {
  it('runs in chunks after pruning, then reports dense / pruned / distilled perplexity and exports the folder', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: siteFetch, openGpu: gpu, openCache: async () => null });
    await engine.loadModel({ kind: 'files', files: FILES.map(([dir, f]) => ({ path: `m/${f}`, file: new File([readFileSync(join(ROOT, dir, f))], f) })) });
    const refused = await engine.recover(request()).then(
      () => null,
      (e: EngineError) => e,
    );
    expect(refused?.kind).toBe('bad-request');
    expect(refused?.message).toMatch(/prune first/);
    await engine.prune(pruneRequest);

    const progress: string[] = [];
    const first = await engine.recover(request(), { onProgress: (p) => progress.push(p.message) });
    expect([first.step, first.totalSteps, first.finished, first.perplexity]).toEqual([2, 4, false, null]);
    expect(first.curves.step).toEqual([1, 2]);
    expect(first.curves.layer).toEqual([0, 0]);
    expect(first.maskSource).toBe('masks.safetensors');
    expect(progress.at(-1)).toMatch(/^Distilling layer 0: step 2 of 4/);
    const last = await engine.recover(request({ untilStep: 4 }));
    expect(last.step).toBe(4);
    expect(last.curves.step).toEqual([1, 2, 3, 4]);
    expect(last.curves.layer).toEqual([0, 0, 1, 1]);
    expect(last.curves.expert_loss.slice(0, 2)).toEqual(first.curves.expert_loss);
    expect(last.layers.map((l) => l.layer)).toEqual([0, 1]);
    expect(last.finished).toBe(true);
    expect(last.nonzeroPruned).toBe(0);
    const { dense, pruned, distilled } = last.perplexity!;
    expect(dense.tokens).toBe(pruned.tokens);
    expect(distilled.tokens).toBe(dense.tokens);
    // The dense number is the Evaluate panel's on the same windows.
    const evaluated = await engine.evaluate({ text: request().evaluation.text, ctx: 64, maxTokens: 512, variants: ['dense', 'pruned'], byGenre: false });
    expect(evaluated.results[0].overall.ppl).toBeCloseTo(dense.ppl, 9);
    expect(evaluated.results[1].overall.ppl).toBeCloseTo(pruned.ppl, 9);

    const files = await engine.exportRecovered({ zip: false });
    expect(files.map((f) => f.path).sort()).toEqual([
      'config.json',
      'distill-curves.svg',
      'distill-report.json',
      'masks.safetensors',
      'model.safetensors',
      'prune-report.json',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    const zip = await engine.exportRecovered({ zip: true });
    expect(zip).toHaveLength(1);
    expect(zip[0].bytes.subarray(0, 2)).toEqual(new Uint8Array([0x50, 0x4b])); // PK

    // Another pruning starts a new run.
    await engine.prune({ ...pruneRequest, sparsity: 0.3 });
    const again = await engine.recover(request({ untilStep: 1 }));
    expect(again.step).toBe(1);
    expect(again.prunedWeights).toBeLessThan(last.prunedWeights);
    await engine.unloadModel();
  });
});
