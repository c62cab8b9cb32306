/**
 * The page's engine (LabService) on a remote model above its GPU memory budget: the estimate says streaming mode
 * (weight bytes, budget, a measured read rate) after reading only the safetensors header by range; the load
 * downloads no weights whole; the Evaluate step's perplexity equals the resident engine's to the last bit, with
 * progress per layer and one layer on the GPU at a time, and so does its calibration; a cancel stops a pass; the
 * peak stays under the budget; without Cache Storage every pass reads the weights again. Cache Storage itself is
 * the browser's: tests/e2e/lab-stream.spec.ts checks that a second pass reads no network.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Progress } from '../../src/api/engine.ts';
import type { CalibrationRequest, EvaluateRequest } from '../../src/api/lab.ts';
import { createNodeGpuContext } from '../../src/gpu/node.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { gpu } from './gpu-context.ts';

const ROOT = join(import.meta.dirname, '../..');
const SITE = 'http://lab.test/';
const REPO = 'https://huggingface.co/test-org/lab-tiny/resolve/main/';
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
/** lab-tiny's weights are 1938688 bytes: a budget just below them streams, with room for one layer (~0.84 MB), the head and the pass. */
const BUDGET = 1_900_000;

/** The site's public/ folder and lab-tiny as a Hugging Face repo (HEAD with sizes, GET with Range), each request logged. */
function siteAndHub(requests: string[]) {
  return async (input: string, init: RequestInit = {}): Promise<Response> => {
    const range = new Headers(init.headers).get('range');
    requests.push(`${init.method ?? 'GET'} ${input}${range ? ` ${range}` : ''}`);
    const path = input.startsWith(SITE)
      ? join(ROOT, 'public', input.slice(SITE.length))
      : input.startsWith(REPO)
        ? join(LAB_TINY, input.slice(REPO.length))
        : null;
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path ?? '');
    } catch {
      return new Response('Not Found', { status: 404 });
    }
    const headers = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) };
    if (init.method === 'HEAD') return new Response(null, { status: 200, headers });
    const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
    if (!match) return new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers });
    const [start, end] = [Number(match[1]), Math.min(Number(match[2]), bytes.byteLength - 1)];
    return new Response(bytes.subarray(start, end + 1) as Uint8Array<ArrayBuffer>, {
      status: 206,
      headers: { 'content-range': `bytes ${start}-${end}/${bytes.byteLength}` },
    });
  };
}

const CALIBRATE: CalibrationRequest = { text: { kind: 'corpus', id: 'brown-heldout' }, samples: 4, seqLen: 16, seed: 1 };
const EVALUATE: EvaluateRequest = { text: { kind: 'corpus', id: 'brown-heldout' }, ctx: 32, maxTokens: 128, byGenre: false, variants: ['dense'] };

describe('LabService streams a remote model above its GPU memory budget', () => {
  it('estimate, load by ranges, cancel, and the resident perplexity and calibration layer by layer', async () => {
    const requests: string[] = [];
    const streamed = new LabService({
      assetBase: SITE,
      fetch: siteAndHub(requests),
      openCache: async () => null,
      openGpu: async () => {
        const ctx = await createNodeGpuContext({ label: 'lab-stream' });
        ctx.memory.budget = BUDGET;
        return ctx;
      },
    });
    const resident = new LabService({ assetBase: SITE, fetch: siteAndHub([]), openGpu: gpu, openCache: async () => null });
    try {
      const source = { kind: 'hub' as const, repo: 'test-org/lab-tiny' };
      const estimate = await streamed.estimateModel(source);
      expect(estimate.streaming).toMatchObject({ weightBytes: 1938688, budget: BUDGET, layers: 2 });
      expect(estimate.streaming!.readRate!.bytesPerSecond).toBeGreaterThan(0);
      expect(estimate.streaming!.secondsPerPass).toBeGreaterThan(0);
      expect(estimate.streaming!.cache).toEqual({ kept: false, message: expect.stringMatching(/no Cache Storage/) });
      expect(estimate.downloadBytes).toBe(0);
      const weightGets = () => requests.filter((r) => r.startsWith('GET') && /model\.safetensors( |$)/.test(r));
      // Only ranges of the weights were read: never the whole file.
      expect(weightGets().length).toBeGreaterThan(0);
      expect(weightGets().every((r) => / bytes=\d+-\d+$/.test(r))).toBe(true);

      const summary = await streamed.loadModel(source);
      expect(summary.streaming).toMatchObject({ weightBytes: 1938688, budget: BUDGET });
      expect(weightGets().every((r) => / bytes=\d+-\d+$/.test(r))).toBe(true);
      const progress: Progress[] = [];
      const got = await streamed.evaluate(EVALUATE, { onProgress: (p) => progress.push(p) });
      expect(progress.map((p) => p.message)).toEqual(
        expect.arrayContaining(['Perplexity of the dense model: layer 1 of 2', 'Perplexity of the dense model: layer 2 of 2']),
      );
      // Without Cache Storage (Node) a second pass reads the weights from the network again.
      const readsBefore = weightGets().length;
      const controller = new AbortController();
      const cancelled = streamed.evaluate(EVALUATE, {
        signal: controller.signal,
        onProgress: (p) => p.message.endsWith('layer 1 of 2') && controller.abort(),
      });
      await expect(cancelled).rejects.toMatchObject({ kind: 'aborted' });
      expect(weightGets().length).toBeGreaterThan(readsBefore);
      const calibrationProgress: string[] = [];
      const calibration = await streamed.calibrate(CALIBRATE, { onProgress: (p) => calibrationProgress.push(p.message) });
      expect(calibrationProgress).toEqual(expect.arrayContaining(['Calibrating: layer 1 of 2', 'Calibrating: layer 2 of 2']));
      const memory = (await streamed.gpuMemory())!;
      expect(memory.layers).toEqual({ streamed: true, resident: 0, peak: 1, total: 2 });
      expect(memory.peak).toBeLessThanOrEqual(BUDGET);

      await resident.loadModel({
        kind: 'files',
        files: ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'].map((f) => ({
          path: `lab-tiny/${f}`,
          file: new File([readFileSync(join(LAB_TINY, f))], f),
        })),
      });
      const want = await resident.evaluate(EVALUATE);
      const { seconds: _s1, ...residentCalibration } = await resident.calibrate(CALIBRATE);
      const { seconds: _s2, ...streamedCalibration } = calibration;
      expect(streamedCalibration).toEqual(residentCalibration);
      expect((await resident.gpuMemory())!.layers).toEqual({ streamed: false, resident: 2, peak: 2, total: 2 });
      expect(got.results).toEqual(want.results);
    } finally {
      await streamed.dispose();
      await resident.unloadModel();
    }
  });
});
