/**
 * A model folder on the Hugging Face Hub (or any https folder), for the page's worker: `estimate()` lists the files
 * the lab needs with their sizes before anything large moves, `download()` fetches them into Cache Storage with
 * per-file and total progress and cancellation, and `open()` serves reads from the cached blobs, so a second visit
 * works with no network at all (the file list itself is cached as a small manifest). Without a cache, `open()`
 * reads lazily with HTTP range requests instead.
 */
import { ModelFileError } from '../errors.ts';
import { normalizeConfig } from '../model/config.ts';
import { JSON_LIMITS, parseJsonObject, SHARD_INDEX, shardsOfIndex, type ModelFolder } from '../model/checkpoint.ts';
import { BlobByteSource, HttpByteSource, type ByteSource } from './byte-source.ts';
import { cancelledError, contentLength, defaultFetch, fetchOrThrow, httpStatusError, readBodyText, transferError, type Fetch } from './http.ts';
import { fileUrl, parseModelLocation, type ModelLocation } from './hub-location.ts';
import { RangeCachedSource, type ReadMeter } from './range-cache.ts';

/** The part of the browser's Cache interface used here (`caches.open(MODEL_CACHE_NAME)` satisfies it). */
export interface CacheLike {
  match(key: string): Promise<Response | undefined>;
  put(key: string, response: Response): Promise<void>;
  delete(key: string): Promise<boolean>;
}

export const MODEL_CACHE_NAME = 'moe-lab-models';

/** The page's model cache, or null where Cache Storage is missing (Node, insecure origins). */
export async function browserModelCache(): Promise<CacheLike | null> {
  return typeof caches === 'undefined' ? null : caches.open(MODEL_CACHE_NAME);
}

export interface HubProgress {
  file: string;
  fileLoaded: number;
  /** null when the server did not say. */
  fileTotal: number | null;
  loaded: number;
  total: number;
}

export interface HubOptions {
  fetch?: Fetch;
  cache?: CacheLike | null;
  /** Overrides a revision given in the location (`org/name@rev`). */
  revision?: string;
  onProgress?: (progress: HubProgress) => void;
  signal?: AbortSignal;
}

export interface HubFile {
  path: string;
  /** Bytes, null when the server did not say. */
  size: number | null;
  cached: boolean;
}

export interface HubEstimate {
  files: HubFile[];
  totalBytes: number;
  cachedBytes: number;
}

export interface HubFolder extends ModelFolder {
  readonly location: ModelLocation;
  url(path: string): string;
  estimate(): Promise<HubEstimate>;
  /** Downloads every file of the estimate that is not cached yet; resolves with the final estimate. */
  download(): Promise<HubEstimate>;
  /**
   * The same folder with its safetensors files read by range instead of downloaded whole (a model whose layers
   * stream: docs/forward.md "Layer streaming"): fetched ranges go into the cache block by block when `cacheRanges`
   * (src/engine/io/range-cache.ts), every read is metered into `meter`; a file already cached whole is read from there.
   */
  ranged(cacheRanges: boolean, meter: ReadMeter): ModelFolder;
}

interface Manifest {
  files: { path: string; size: number | null }[];
}

/** Optional files: their absence is recorded, not an error. */
const OPTIONAL = ['tokenizer.json', 'tokenizer_config.json'];

export function hubFolder(input: string, options: HubOptions = {}): HubFolder {
  const parsed = parseModelLocation(input);
  const location = options.revision && parsed.repo ? parseModelLocation(`${parsed.repo}@${options.revision}`) : parsed;
  const fetchImpl = options.fetch ?? defaultFetch;
  const cache = options.cache ?? null;
  const signal = options.signal;
  const url = (path: string) => fileUrl(location, path);
  const fileName = (path: string) => `${location.name}/${path}`;
  // The manifest sits in the cache under a URL that is never fetched, next to the files it lists.
  const manifestKey = url('.moe-lab-manifest.json');
  let manifest: Manifest | null = null;

  const request = (path: string, init: RequestInit = {}) => fetchOrThrow(fetchImpl, fileName(path), url(path), { ...init, signal });

  /** HEAD: size, or null when the file is absent. A development server's HTML fallback page counts as absent. */
  async function probe(path: string): Promise<{ size: number | null } | null> {
    const response = await request(path, { method: 'HEAD' });
    if (response.status === 404 || (response.ok && (response.headers.get('content-type') ?? '').includes('text/html'))) return null;
    if (response.status === 405 || response.status === 501) {
      return { size: await new HttpByteSource(fileName(path), url(path), (u, init) => fetchImpl(u, { ...init, signal })).size() };
    }
    if (!response.ok) throw httpStatusError(fileName(path), url(path), response);
    // The Hub's first answer for large files carries X-Linked-Size (the redirect target's Content-Length).
    const linked = response.headers.get('x-linked-size');
    return { size: contentLength(response) ?? (linked && /^\d{1,16}$/.test(linked) ? Number(linked) : null) };
  }

  async function cachedBlob(path: string): Promise<Blob | null> {
    const hit = await cache?.match(url(path));
    return hit ? hit.blob() : null;
  }

  /** GET a small JSON file, put it in the cache, return its text; null when absent. */
  async function fetchSmall(path: string, maxBytes: number): Promise<string | null> {
    const response = await request(path);
    if (response.status === 404) return null;
    if (!response.ok) throw httpStatusError(fileName(path), url(path), response);
    const text = await readBodyText(fileName(path), response, maxBytes, signal);
    await cache?.put(url(path), new Response(text, { headers: { 'content-type': 'application/json' } }));
    return text;
  }

  async function listFromNetwork(): Promise<Manifest> {
    const configText = await fetchSmall('config.json', JSON_LIMITS.config);
    if (configText === null) {
      throw new ModelFileError(fileName('config.json'), 'missing-file', 'not found: not a Hugging Face model folder (every model has a config.json)');
    }
    // Refuse an unsupported model before gigabytes move.
    normalizeConfig(fileName('config.json'), parseJsonObject(fileName('config.json'), configText));
    const files: Manifest['files'] = [{ path: 'config.json', size: new TextEncoder().encode(configText).byteLength }];
    const indexText = await fetchSmall(SHARD_INDEX, JSON_LIMITS.index);
    if (indexText !== null) {
      files.push({ path: SHARD_INDEX, size: new TextEncoder().encode(indexText).byteLength });
      for (const shard of [...shardsOfIndex(fileName(SHARD_INDEX), parseJsonObject(fileName(SHARD_INDEX), indexText)).keys()].sort()) {
        const found = await probe(shard);
        if (!found) throw new ModelFileError(fileName(shard), 'missing-file', `not found (listed in ${SHARD_INDEX})`);
        files.push({ path: shard, size: found.size });
      }
    } else {
      const found = await probe('model.safetensors');
      if (!found) {
        throw new ModelFileError(fileName('model.safetensors'), 'unsupported', `not found, nor ${SHARD_INDEX}: only safetensors checkpoints can be loaded`);
      }
      files.push({ path: 'model.safetensors', size: found.size });
    }
    for (const path of OPTIONAL) {
      const found = await probe(path);
      if (found) files.push({ path, size: found.size });
    }
    return { files };
  }

  async function loadManifest(): Promise<Manifest> {
    if (manifest) return manifest;
    const hit = await cache?.match(manifestKey);
    if (hit) {
      try {
        const json = (await hit.json()) as Manifest;
        if (Array.isArray(json.files) && json.files.every((f) => typeof f.path === 'string')) manifest = json;
      } catch {
        // A damaged manifest is rebuilt from the network below.
      }
    }
    if (!manifest) {
      manifest = await listFromNetwork();
      await cache?.put(manifestKey, new Response(JSON.stringify(manifest), { headers: { 'content-type': 'application/json' } }));
    }
    return manifest;
  }

  async function estimate(): Promise<HubEstimate> {
    const { files } = await loadManifest();
    const listed: HubFile[] = [];
    for (const file of files) {
      const blob = await cachedBlob(file.path);
      const cached = blob !== null && (file.size === null || blob.size === file.size);
      listed.push({ path: file.path, size: blob && cached ? blob.size : file.size, cached });
    }
    const sum = (list: HubFile[]) => list.reduce((total, f) => total + (f.size ?? 0), 0);
    return { files: listed, totalBytes: sum(listed), cachedBytes: sum(listed.filter((f) => f.cached)) };
  }

  /** Streams one file into the cache, reporting progress; checks the stored size against the expected one. */
  async function downloadFile(file: HubFile, progress: { loaded: number; total: number }): Promise<void> {
    if (!cache) return;
    const name = fileName(file.path);
    const response = await request(file.path);
    if (!response.ok) throw httpStatusError(name, url(file.path), response);
    const expected = contentLength(response) ?? file.size;
    let fileLoaded = 0;
    const report = () => options.onProgress?.({ file: file.path, fileLoaded, fileTotal: expected, loaded: progress.loaded, total: progress.total });
    const counting = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (signal?.aborted) return controller.error(cancelledError(name));
        fileLoaded += chunk.byteLength;
        progress.loaded += chunk.byteLength;
        report();
        controller.enqueue(chunk);
      },
    });
    report();
    try {
      const body = response.body ?? new Blob([]).stream();
      await cache.put(url(file.path), new Response(body.pipeThrough(counting), { headers: { 'content-type': 'application/octet-stream' } }));
    } catch (error) {
      await cache.delete(url(file.path)).catch(() => false);
      throw transferError(name, signal?.aborted ? cancelledError(name) : error, signal);
    }
    const stored = await cachedBlob(file.path);
    if (!stored || (expected !== null && stored.size !== expected)) {
      await cache.delete(url(file.path));
      throw new ModelFileError(name, 'truncated', `download incomplete: got ${stored?.size ?? 0} of ${expected} bytes`);
    }
  }

  async function download(): Promise<HubEstimate> {
    const before = await estimate();
    const progress = { loaded: before.cachedBytes, total: before.totalBytes };
    for (const file of before.files) {
      if (signal?.aborted) throw cancelledError(location.name);
      if (!file.cached) await downloadFile(file, progress);
    }
    return estimate();
  }

  async function open(path: string): Promise<ByteSource | null> {
    const blob = await cachedBlob(path);
    if (blob) return new BlobByteSource(fileName(path), blob);
    // With a cache, the manifest says which files exist; anything else is absent, even offline.
    if (cache) {
      const entry = (await loadManifest()).files.find((f) => f.path === path);
      if (!entry) return null;
      // Building the manifest may have cached it (config.json, the index); otherwise download it now.
      let stored = await cachedBlob(path);
      if (!stored) {
        await downloadFile({ path, size: entry.size, cached: false }, { loaded: 0, total: entry.size ?? 0 });
        stored = await cachedBlob(path);
      }
      return stored ? new BlobByteSource(fileName(path), stored) : null;
    }
    const found = await probe(path);
    return found ? new HttpByteSource(fileName(path), url(path), (u, init) => fetchImpl(u, { ...init, signal }), found.size ?? undefined) : null;
  }

  function ranged(cacheRanges: boolean, meter: ReadMeter): ModelFolder {
    const opened = new Map<string, Promise<ByteSource | null>>();
    const openRanged = async (path: string): Promise<ByteSource | null> => {
      if (!path.endsWith('.safetensors')) return open(path);
      const blob = await cachedBlob(path);
      if (blob) return new BlobByteSource(fileName(path), blob);
      const entry = (await loadManifest()).files.find((f) => f.path === path);
      if (!entry) return null;
      const http = new HttpByteSource(fileName(path), url(path), (u, init) => fetchImpl(u, { ...init, signal }), entry.size ?? undefined);
      return new RangeCachedSource(http, url(path), cacheRanges ? cache : null, meter);
    };
    return {
      name: location.name,
      open(path) {
        // One source per file, so reads of the same block share one fetch.
        let source = opened.get(path);
        if (!source) opened.set(path, (source = openRanged(path)));
        return source;
      },
    };
  }

  return { name: location.name, location, url, estimate, download, open, ranged };
}
