import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Progress } from '../../src/api/engine.ts';
import type { EngineError } from '../../src/api/errors.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { LabService } from '../../src/lab/lab-service.ts';

const ROOT = join(import.meta.dirname, '../..');
const SITE = 'http://lab.test/app/';
const HUB = 'https://huggingface.co/';

/**
 * fetch over files on disk, the way a static server answers: HEAD with Content-Length, GET with Range -> 206,
 * a missing file -> 404, or (spaFallback) index.html with 200 as Vite's dev/preview server does.
 */
function diskFetch(options: { spaFallback?: boolean; status?: number } = {}) {
  const requests: string[] = [];
  const fetchImpl = async (input: string, init: RequestInit = {}): Promise<Response> => {
    init.signal?.throwIfAborted();
    requests.push(`${init.method ?? 'GET'} ${input}`);
    let path: string;
    if (input.startsWith(SITE)) path = join(ROOT, 'public', input.slice(SITE.length));
    else if (input.startsWith(`${HUB}org/qwen/resolve/main/`))
      path = join(ROOT, 'tests/fixtures/hf-tiny/qwen2_moe', input.slice(`${HUB}org/qwen/resolve/main/`.length));
    else return new Response('no route', { status: 404 });
    if (options.status) return new Response('denied', { status: options.status });
    let bytes: Uint8Array;
    try {
      if (!statSync(path).isFile()) throw new Error('not a file');
      bytes = readFileSync(path);
    } catch {
      if (!options.spaFallback) return new Response('Not Found', { status: 404 });
      return new Response(init.method === 'HEAD' ? null : '<!doctype html><html></html>', { status: 200, headers: { 'content-type': 'text/html' } });
    }
    const headers = new Headers({ 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) });
    if (init.method === 'HEAD') return new Response(null, { status: 200, headers });
    const range = /^bytes=(\d+)-(\d+)$/.exec(new Headers(init.headers).get('range') ?? '');
    if (!range) return new Response(bytes as Uint8Array<ArrayBuffer>, { status: 200, headers });
    const [start, end] = [Number(range[1]), Math.min(Number(range[2]), bytes.byteLength - 1)];
    return new Response(bytes.subarray(start, end + 1) as Uint8Array<ArrayBuffer>, {
      status: 206,
      headers: { 'content-range': `bytes ${start}-${end}/${bytes.byteLength}` },
    });
  };
  return { fetchImpl, requests };
}

/** A GPU context with nothing but capabilities: enough for the fit check. */
function fakeGpu(maxStorageBufferBindingSize: number) {
  return async () =>
    ({
      lostError: null,
      caps: {
        vendor: 'test',
        architecture: '',
        device: '',
        description: 'fake adapter',
        isSoftware: true,
        features: { shaderF16: false, subgroups: false, timestampQuery: false },
        limits: {
          maxBufferSize: 2 ** 30,
          maxStorageBufferBindingSize,
          maxComputeWorkgroupStorageSize: 16384,
          maxComputeInvocationsPerWorkgroup: 256,
          maxComputeWorkgroupSizeX: 256,
          maxComputeWorkgroupsPerDimension: 65535,
          maxStorageBuffersPerShaderStage: 8,
          minStorageBufferOffsetAlignment: 256,
          minUniformBufferOffsetAlignment: 256,
        },
      },
    }) as unknown as GpuContext;
}

/** The documented content hash, computed here independently of the engine. */
function expectedHash(dir: string, files = ['model.safetensors']): string {
  const hash = createHash('sha256').update(readFileSync(join(dir, 'config.json')));
  for (const file of files) {
    const bytes = readFileSync(join(dir, file));
    const n = Number(bytes.readBigUInt64LE(0));
    hash.update(bytes.subarray(0, 8 + n));
  }
  return hash.digest('hex');
}

const MIXTRAL = join(ROOT, 'tests/fixtures/hf-tiny/mixtral');
const fileOf = (dir: string, name: string, as = name) => new File([readFileSync(join(dir, name))], as);
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: EngineError) => error,
  );

describe('LabService (in-thread engine)', () => {
  it('lists the embedded models, one of them the default, and loads one with its summary and content hash', async () => {
    const { fetchImpl } = diskFetch();
    const engine = new LabService({ assetBase: SITE, fetch: fetchImpl, openGpu: fakeGpu(2 ** 27) });
    const models = await engine.embeddedModels();
    expect(models.filter((m) => m.default)).toHaveLength(1);
    expect(models).toContainEqual(expect.objectContaining({ id: 'test-tiny-mixtral', path: 'models/test-tiny-mixtral' }));
    const progress: Progress[] = [];
    const summary = await engine.loadModel({ kind: 'embedded', id: 'test-tiny-mixtral' }, { onProgress: (p) => progress.push(p) });
    expect(summary.spec.architecture).toBe('mixtral');
    expect(summary.spec.numExperts).toBe(8);
    expect(summary.spec.numLayers).toBe(2);
    expect(summary.parameters).toEqual({ total: 484672, expert: 393216, perExpert: 24576, shared: 0, active: 189760, embedding: 32768 });
    expect(summary.dtype).toBe('f32');
    expect(summary.tokenizer).toBe(false);
    expect(summary.contentHash).toBe(expectedHash(MIXTRAL));
    expect(summary.files).toEqual([
      { file: 'config.json', bytes: statSync(join(MIXTRAL, 'config.json')).size },
      { file: 'model.safetensors', bytes: statSync(join(MIXTRAL, 'model.safetensors')).size },
    ]);
    // gate_up of one layer's 8 experts: 8 x 256 x 64 x 4 bytes = 512 KiB, the largest buffer.
    expect(summary.fit).toMatchObject({ fits: true, largestBuffer: { bytes: 524288 }, weightBytes: 484672 * 4, problems: [] });
    expect(progress.at(-1)).toMatchObject({ done: 3, total: 3 });
    expect(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done)).toBe(true);
  });

  it('treats the HTML a dev server sends for a missing file as no file', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch({ spaFallback: true }).fetchImpl, openGpu: fakeGpu(2 ** 27) });
    const summary = await engine.loadModel({ kind: 'embedded', id: 'test-tiny-mixtral' });
    expect(summary.tokenizer).toBe(false);
    expect(summary.files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors']);
  });

  it('reports no GPU as a capability, not an error, and loads without a fit', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch().fetchImpl });
    const caps = await engine.capabilities();
    expect(caps.available).toBe(false);
    expect(caps.available ? '' : caps.reason).toMatch(/WebGPU is not available.*Chrome or Edge/);
    expect((await engine.loadModel({ kind: 'embedded', id: 'test-tiny-mixtral' })).fit).toBeNull();
  });

  it('refuses a model beyond the adapter binding limit, naming the buffer and the limit', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch().fetchImpl, openGpu: fakeGpu(256 * 1024) });
    const estimate = await engine.estimateModel({ kind: 'embedded', id: 'test-tiny-mixtral' });
    expect(estimate.fit?.fits).toBe(false);
    expect(estimate.fit?.problems[0]).toBe(
      "one layer's experts gate_up [E=8, 2I=256, H=64] needs 512.0 KiB in one buffer, but this adapter binds at most 256.0 KiB " +
        '(maxStorageBufferBindingSize): choose a smaller model or another GPU/browser.',
    );
    const error = await errorOf(engine.loadModel({ kind: 'embedded', id: 'test-tiny-mixtral' }));
    expect(error).toMatchObject({ kind: 'gpu', detail: 'limits' });
  });

  it('loads dropped files (same hash as the embedded copy) and names a corrupt file in one line', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch().fetchImpl });
    const files = [fileOf(MIXTRAL, 'config.json'), fileOf(MIXTRAL, 'model.safetensors', 'weights.safetensors')];
    const summary = await engine.loadModel({ kind: 'files', files });
    expect(summary.contentHash).toBe(expectedHash(MIXTRAL));
    expect(summary.name).toBe('dropped files');

    const bytes = readFileSync(join(MIXTRAL, 'model.safetensors'));
    const corrupt = new File([bytes.subarray(0, 5000)], 'model.safetensors');
    const error = await errorOf(engine.loadModel({ kind: 'files', files: [fileOf(MIXTRAL, 'config.json'), corrupt] }));
    expect(error).toMatchObject({ kind: 'model-file', file: 'model.safetensors' });
    expect(error?.message.startsWith('model.safetensors: ')).toBe(true);
    expect(error?.message).not.toContain('\n');
    // A failed load keeps the model that was loaded.
    await expect(engine.tokenize('hi')).rejects.toMatchObject({ kind: 'no-tokenizer' });
  });

  it("tokenizes with the model's tokenizer.json, and names a broken one", async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch().fetchImpl });
    const tokenizer = {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: [],
      normalizer: null,
      post_processor: null,
      decoder: null,
      pre_tokenizer: { type: 'Whitespace' },
      model: { type: 'WordLevel', vocab: { '[UNK]': 0, hello: 1, world: 2 }, unk_token: '[UNK]' },
    };
    const files = (json: string) => [
      fileOf(MIXTRAL, 'config.json', 'm/config.json'),
      fileOf(MIXTRAL, 'model.safetensors', 'm/model.safetensors'),
      new File([json], 'm/tokenizer.json'),
    ];
    const summary = await engine.loadModel({ kind: 'files', files: files(JSON.stringify(tokenizer)) });
    expect(summary.tokenizer).toBe(true);
    expect(summary.files.map((f) => f.file)).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(await engine.tokenize('hello world world')).toEqual([1, 2, 2]);
    const broken = await errorOf(engine.loadModel({ kind: 'files', files: files('{"model": {"type": "Nonsense"}}') }));
    expect(broken).toMatchObject({ kind: 'model-file', file: 'm/tokenizer.json' });
  });

  it('estimates a Hugging Face repo from config.json and HEAD sizes before downloading', async () => {
    const { fetchImpl, requests } = diskFetch();
    const engine = new LabService({ assetBase: SITE, fetch: fetchImpl });
    const estimate = await engine.estimateModel({ kind: 'hub', repo: 'https://huggingface.co/org/qwen/tree/main' });
    expect(estimate.name).toBe('org/qwen');
    expect(estimate.spec.architecture).toBe('qwen2_moe');
    const size = statSync(join(ROOT, 'tests/fixtures/hf-tiny/qwen2_moe/model.safetensors')).size;
    expect(estimate.files.find((f) => f.file === 'model.safetensors')?.bytes).toBe(size);
    expect(estimate.downloadBytes).toBe(estimate.totalBytes);
    // Nothing but config.json was read in full; the weights were only sized.
    expect(requests.filter((r) => r.startsWith('GET') && r.endsWith('model.safetensors'))).toEqual([]);
  });

  it('downloads a repo into the cache with per-file progress, then estimates and loads it offline', async () => {
    const stored = new Map<string, Blob>();
    const cache = {
      match: async (key: string) => (stored.has(key) ? new Response(stored.get(key)) : undefined),
      put: async (key: string, response: Response) => void stored.set(key, await response.blob()),
      delete: async (key: string) => stored.delete(key),
    };
    const online = new LabService({ assetBase: SITE, fetch: diskFetch().fetchImpl, openCache: async () => cache });
    const progress: Progress[] = [];
    const summary = await online.loadModel({ kind: 'hub', repo: 'org/qwen' }, { onProgress: (p) => progress.push(p) });
    expect(summary.spec.architecture).toBe('qwen2_moe');
    expect(summary.contentHash).toBe(expectedHash(join(ROOT, 'tests/fixtures/hf-tiny/qwen2_moe')));
    const downloads = progress.filter((p) => p.stage === 'download');
    const size = statSync(join(ROOT, 'tests/fixtures/hf-tiny/qwen2_moe/model.safetensors')).size;
    const last = downloads.at(-1)!;
    expect(last.unit).toBe('bytes');
    expect(last.done).toBe(last.total);
    expect(last.files?.find((f) => f.file === 'model.safetensors')).toMatchObject({ loaded: size, total: size });

    const offlineFetch = async (): Promise<Response> => {
      throw new TypeError('Failed to fetch');
    };
    const offline = new LabService({ assetBase: SITE, fetch: offlineFetch, openCache: async () => cache });
    const estimate = await offline.estimateModel({ kind: 'hub', repo: 'org/qwen' });
    expect(estimate.downloadBytes).toBe(0);
    expect(estimate.files.every((f) => f.cached)).toBe(true);
    expect((await offline.loadModel({ kind: 'hub', repo: 'org/qwen' })).contentHash).toBe(summary.contentHash);
    const noCache = new LabService({ assetBase: SITE, fetch: offlineFetch });
    expect(await errorOf(noCache.estimateModel({ kind: 'hub', repo: 'org/qwen' }))).toMatchObject({ kind: 'network' });
  });

  it('says a gated repo is gated, and refuses a malformed repo id', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch({ status: 401 }).fetchImpl });
    const gated = await errorOf(engine.estimateModel({ kind: 'hub', repo: 'org/qwen' }));
    expect(gated).toMatchObject({ kind: 'model-file', file: 'org/qwen/config.json', detail: 'forbidden' });
    expect(gated?.message).toMatch(/gated or private/);
    const bad = await errorOf(engine.estimateModel({ kind: 'hub', repo: 'not a repo' }));
    expect(bad).toMatchObject({ kind: 'bad-request' });
  });

  it('cancels a load through its signal and keeps no half-loaded model', async () => {
    const engine = new LabService({ assetBase: SITE, fetch: diskFetch().fetchImpl });
    const controller = new AbortController();
    const loading = engine.loadModel(
      { kind: 'embedded', id: 'test-tiny-mixtral' },
      {
        signal: controller.signal,
        onProgress: () => controller.abort(),
      },
    );
    expect(await errorOf(loading)).toMatchObject({ kind: 'aborted' });
    await expect(engine.tokenize('x')).rejects.toMatchObject({ kind: 'no-model' });
    await expect(engine.loadModel({ kind: 'embedded', id: 'nope' })).rejects.toMatchObject({ kind: 'bad-request' });
  });
});
