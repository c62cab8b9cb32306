/**
 * Remote model folders: repo ids and URLs parsed into resolve URLs; `hubFolder` estimating sizes, downloading into
 * Cache Storage with per-file and total progress and cancellation, a second open working offline from the cache,
 * lazy range reads without a cache, and clear errors for gated, private, missing and unsupported repos.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFileError, type ModelFileProblem } from '../../src/engine/errors.ts';
import { hubFolder, type HubProgress } from '../../src/engine/io/hub-folder.ts';
import { parseModelLocation } from '../../src/engine/io/hub-location.ts';
import { openCheckpoint, readTensorRaw } from '../../src/engine/model/checkpoint.ts';
import { fakeHub, memoryCache, type FakeFile } from '../helpers/fake-hub.ts';
import { fixtureDir } from '../helpers/fixtures.ts';
import { firstByteDifference, readRawTensors, shardName } from '../helpers/checkpoint-files.ts';
import { writeSafetensors } from '../../src/engine/io/safetensors.ts';

const BASE = 'https://huggingface.co/lab/tiny-mixtral/resolve/main/';
const read = (file: string) => new Uint8Array(readFileSync(join(fixtureDir('mixtral'), file)));
const CONFIG = read('config.json');
const MODEL = read('model.safetensors');
const TOKENIZER = new TextEncoder().encode(JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: {}, merges: [] } }));

function repo(extra: Record<string, FakeFile> = {}, base = BASE): Record<string, FakeFile> {
  return {
    [`${base}config.json`]: { bytes: CONFIG },
    [`${base}model.safetensors`]: { bytes: MODEL },
    [`${base}tokenizer.json`]: { bytes: TOKENIZER },
    ...extra,
  };
}

async function problem(promise: Promise<unknown>, expected: ModelFileProblem): Promise<ModelFileError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelFileError);
  expect((error as ModelFileError).problem, (error as Error).message).toBe(expected);
  return error as ModelFileError;
}

describe('model locations', () => {
  const base = (input: string) => parseModelLocation(input).baseUrl;
  it('turns repo ids and huggingface.co URLs into resolve URLs', () => {
    expect(parseModelLocation('org/name')).toEqual({
      kind: 'hub',
      name: 'org/name',
      baseUrl: 'https://huggingface.co/org/name/resolve/main/',
      repo: 'org/name',
      revision: 'main',
    });
    expect(base('org/name@v1.0')).toBe('https://huggingface.co/org/name/resolve/v1.0/');
    expect(base('org/name@refs/pr/3')).toBe('https://huggingface.co/org/name/resolve/refs%2Fpr%2F3/');
    expect(base(' https://huggingface.co/org/name ')).toBe('https://huggingface.co/org/name/resolve/main/');
    expect(base('https://huggingface.co/org/name/tree/dev')).toBe('https://huggingface.co/org/name/resolve/dev/');
    expect(base('https://huggingface.co/org/name/tree/main/sub/dir')).toBe('https://huggingface.co/org/name/resolve/main/sub/dir/');
    expect(base('https://huggingface.co/org/name/blob/main/config.json')).toBe('https://huggingface.co/org/name/resolve/main/');
    expect(base('https://hf.co/org/name/resolve/abc123/model.safetensors?download=true')).toBe('https://huggingface.co/org/name/resolve/abc123/');
    expect(parseModelLocation('org/name@dev').name).toBe('org/name@dev');
    expect(hubFolder('org/name@dev', { revision: 'v2' }).url('sub dir/config.json')).toBe('https://huggingface.co/org/name/resolve/v2/sub%20dir/config.json');
  });

  it('takes any https folder URL, and http only from loopback', () => {
    expect(parseModelLocation('https://example.com/models/tiny')).toMatchObject({ kind: 'url', baseUrl: 'https://example.com/models/tiny/', repo: null });
    expect(base('https://example.com/models/tiny/config.json')).toBe('https://example.com/models/tiny/');
    expect(base('http://127.0.0.1:8080/m/')).toBe('http://127.0.0.1:8080/m/');
  });

  it('refuses what is not a model location, with the reason', () => {
    for (const input of [
      '',
      'just-a-name',
      'a/b/c',
      'org/name@',
      'org/na me',
      'org/../x',
      'http://example.com/m',
      'ftp://x/y',
      'https://huggingface.co/datasets/org/x',
      'https://huggingface.co/org',
      'https://u:p@example.com/m',
      'https://huggingface.co/org/name/commits/main',
    ]) {
      expect(() => parseModelLocation(input), input).toThrow(ModelFileError);
    }
    expect(() => parseModelLocation('http://example.com/m')).toThrow(/only https/);
  });
});

describe('hubFolder with a cache', () => {
  it('estimates the files and sizes without downloading the weights', async () => {
    const hub = fakeHub(repo());
    const estimate = await hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache: memoryCache() }).estimate();
    expect(estimate.files).toEqual([
      { path: 'config.json', size: CONFIG.byteLength, cached: true },
      { path: 'model.safetensors', size: MODEL.byteLength, cached: false },
      { path: 'tokenizer.json', size: TOKENIZER.byteLength, cached: false },
    ]);
    expect(estimate.totalBytes).toBe(CONFIG.byteLength + MODEL.byteLength + TOKENIZER.byteLength);
    expect(hub.requests.filter((r) => r.url.endsWith('model.safetensors')).map((r) => r.method)).toEqual(['HEAD']);
  });

  it('downloads with per-file and total progress, then a second open works offline from the cache alone', async () => {
    const hub = fakeHub(repo());
    const cache = memoryCache();
    const events: HubProgress[] = [];
    const folder = hubFolder('https://huggingface.co/lab/tiny-mixtral', { fetch: hub.fetch, cache, onProgress: (p) => events.push(p) });
    const done = await folder.download();
    expect(done.files.every((f) => f.cached)).toBe(true);
    const last = events.at(-1)!;
    expect([last.loaded, last.total]).toEqual([done.totalBytes, done.totalBytes]);
    const modelEvents = events.filter((e) => e.file === 'model.safetensors');
    expect(modelEvents.length).toBeGreaterThan(10);
    expect(modelEvents.at(-1)).toMatchObject({ fileLoaded: MODEL.byteLength, fileTotal: MODEL.byteLength });
    expect(events.every((e, i) => i === 0 || e.loaded >= events[i - 1].loaded)).toBe(true);

    hub.offline = true;
    const requestsBefore = hub.requests.length;
    const again = hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache });
    expect((await again.estimate()).cachedBytes).toBe(done.totalBytes);
    const checkpoint = await openCheckpoint(again);
    const router = await readTensorRaw(checkpoint, 'model.layers.0.block_sparse_moe.gate.weight');
    const stored = readRawTensors(join(fixtureDir('mixtral'), 'model.safetensors')).find((t) => t.name === router.info.name)!;
    expect(firstByteDifference(router.bytes, stored.data)).toBe(-1);
    expect(checkpoint.tokenizerJson).not.toBeNull();
    expect(hub.requests.length).toBe(requestsBefore);
    expect(checkpoint.tensors.get(router.info.name)!.source.name).toBe('lab/tiny-mixtral/model.safetensors');
  });

  it('lists a sharded repo: the index and each shard with its size', async () => {
    const tensors = readRawTensors(join(fixtureDir('mixtral'), 'model.safetensors'));
    const half = Math.ceil(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)].map((part) => writeSafetensors(part));
    const weightMap = Object.fromEntries(tensors.map((t, i) => [t.name, shardName(i < half ? 0 : 1, 2)]));
    const files = repo({
      [`${BASE}model.safetensors.index.json`]: { bytes: new TextEncoder().encode(JSON.stringify({ weight_map: weightMap })) },
      [`${BASE}${shardName(0, 2)}`]: { bytes: shards[0] },
      [`${BASE}${shardName(1, 2)}`]: { bytes: shards[1] },
    });
    delete files[`${BASE}model.safetensors`];
    const hub = fakeHub(files);
    const folder = hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache: memoryCache() });
    const estimate = await folder.download();
    expect(estimate.files.map((f) => [f.path, f.size])).toEqual([
      ['config.json', CONFIG.byteLength],
      ['model.safetensors.index.json', expect.any(Number)],
      [shardName(0, 2), shards[0].byteLength],
      [shardName(1, 2), shards[1].byteLength],
      ['tokenizer.json', TOKENIZER.byteLength],
    ]);
    expect((await openCheckpoint(folder)).files).toEqual([shardName(0, 2), shardName(1, 2)]);
  });

  it('cancels mid-download, keeps no partial file, and resumes later', async () => {
    const hub = fakeHub(repo());
    const cache = memoryCache();
    const controller = new AbortController();
    hub.onChunk = (url, sent) => {
      if (url.endsWith('model.safetensors') && sent > MODEL.byteLength / 2) controller.abort();
    };
    const folder = hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache, signal: controller.signal });
    await problem(folder.download(), 'cancelled');
    expect(cache.keys().some((k) => k.endsWith('model.safetensors'))).toBe(false);
    hub.onChunk = undefined;
    const resumed = await hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache }).download();
    expect(resumed.files.every((f) => f.cached)).toBe(true);
  });

  it('refuses a download shorter than its Content-Length', async () => {
    const hub = fakeHub(repo({ [`${BASE}model.safetensors`]: { bytes: MODEL, cutAt: 1000 } }));
    const cache = memoryCache();
    const error = await problem(hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache }).download(), 'truncated');
    expect(error.file).toBe('lab/tiny-mixtral/model.safetensors');
    expect(cache.keys().some((k) => k.endsWith('model.safetensors'))).toBe(false);
  });
});

describe('hubFolder without a cache', () => {
  it('reads lazily with range requests', async () => {
    const hub = fakeHub(repo());
    const checkpoint = await openCheckpoint(hubFolder('lab/tiny-mixtral', { fetch: hub.fetch }));
    expect(checkpoint.spec.architecture).toBe('mixtral');
    const gets = hub.requests.filter((r) => r.url.endsWith('model.safetensors') && r.method === 'GET');
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.every((r) => r.range !== null)).toBe(true);
  });
});

describe('hubFolder errors', () => {
  const estimateWith = (files: Record<string, FakeFile>) => hubFolder('lab/tiny-mixtral', { fetch: fakeHub(files).fetch, cache: memoryCache() }).estimate();

  it('says a gated or private repo is gated or private', async () => {
    const gated = await problem(estimateWith(repo({ [`${BASE}config.json`]: { bytes: CONFIG, status: 403, errorCode: 'GatedRepo' } })), 'forbidden');
    expect(gated.message).toMatch(/^lab\/tiny-mixtral\/config\.json: gated repository/);
    const denied = await problem(estimateWith(repo({ [`${BASE}model.safetensors`]: { bytes: MODEL, status: 401 } })), 'forbidden');
    expect(denied.message).toMatch(/gated or private/);
  });

  it('says when the repo, the revision or config.json does not exist', async () => {
    const noRepo = await problem(estimateWith({ [`${BASE}config.json`]: { bytes: CONFIG, status: 401, errorCode: 'RepoNotFound' } }), 'missing-file');
    expect(noRepo.message).toMatch(/no such repository/);
    const noConfig = await problem(estimateWith({ [`${BASE}model.safetensors`]: { bytes: MODEL } }), 'missing-file');
    expect(noConfig.message).toMatch(/config\.json: not found: not a Hugging Face model folder/);
  });

  it('refuses an unsupported model before touching its weights', async () => {
    const llama = new TextEncoder().encode(JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
    const hub = fakeHub(repo({ [`${BASE}config.json`]: { bytes: llama } }));
    await problem(hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache: memoryCache() }).estimate(), 'unknown-architecture');
    expect(hub.requests.some((r) => r.url.endsWith('.safetensors'))).toBe(false);
    const binOnly = repo({ [`${BASE}pytorch_model.bin`]: { bytes: new Uint8Array(4) } });
    delete binOnly[`${BASE}model.safetensors`];
    expect((await problem(estimateWith(binOnly), 'unsupported')).message).toMatch(/only safetensors checkpoints/);
  });

  it('says when the network is down and nothing is cached', async () => {
    const hub = fakeHub(repo());
    hub.offline = true;
    const error = await problem(hubFolder('lab/tiny-mixtral', { fetch: hub.fetch, cache: memoryCache() }).estimate(), 'network');
    expect(error.message).toMatch(/could not reach https:\/\/huggingface\.co\/lab\/tiny-mixtral\/resolve\/main\/config\.json/);
  });
});
