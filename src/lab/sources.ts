/**
 * Model sources -> ModelFolder, inside the worker. Dropped or picked files go through the loader's filesFolder,
 * Hugging Face repos and https folders through its hubFolder (estimate, Cache Storage, per-file progress). Embedded
 * models are same-origin static files: read with HTTP range requests (the browser's HTTP cache does the caching),
 * over any origin the page is served from, including plain-http development servers on a LAN address, which
 * hubFolder rightly refuses for remote models.
 */
import type { EmbeddedModel, ModelSource } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import { ModelFileError } from '../engine/errors.ts';
import { HttpByteSource, type ByteSource } from '../engine/io/byte-source.ts';
import { filesFolder } from '../engine/io/files-folder.ts';
import { contentLength, fetchOrThrow, httpStatusError, type Fetch } from '../engine/io/http.ts';
import { hubFolder, type CacheLike, type HubFolder, type HubProgress } from '../engine/io/hub-folder.ts';
import type { ModelFolder } from '../engine/model/checkpoint.ts';

/**
 * A same-origin folder at `baseUrl` (ending in '/'). Existence and size come from a HEAD request; a 404, or an
 * HTML page (the index.html a development server sends for any unknown path), means "no such file".
 */
export function urlFolder(name: string, baseUrl: string, fetchImpl: Fetch): ModelFolder {
  const opened = new Map<string, Promise<ByteSource | null>>();
  const open = async (path: string): Promise<ByteSource | null> => {
    const url = new URL(path, baseUrl).href;
    const file = `${name}/${path}`;
    const response = await fetchOrThrow(fetchImpl, file, url, { method: 'HEAD' });
    if (response.status === 404) return null;
    if (!response.ok) throw httpStatusError(file, url, response);
    if ((response.headers.get('content-type') ?? '').includes('text/html')) return null;
    return new HttpByteSource(file, url, fetchImpl, contentLength(response) ?? undefined);
  };
  return {
    name,
    open(path) {
      let source = opened.get(path);
      if (!source) {
        source = open(path);
        opened.set(path, source);
        source.catch(() => opened.delete(path));
      }
      return source;
    },
  };
}

/** Validates public/models/index.json. */
export function parseEmbeddedIndex(file: string, json: unknown): EmbeddedModel[] {
  if (!Array.isArray(json)) throw new ModelFileError(file, 'bad-json', 'expected a JSON array of models');
  return json.map((entry: unknown, i) => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const bad = (what: string) => new ModelFileError(file, 'bad-json', `entry ${i}: ${what}`);
    if (typeof e.id !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/.test(e.id)) throw bad('id must be a lower-case slug');
    if (typeof e.name !== 'string' || typeof e.description !== 'string') throw bad('name and description must be strings');
    // Relative to the site root, inside it: no scheme, no leading slash, no '..'.
    if (typeof e.path !== 'string' || !/^[\w.-]+(\/[\w.-]+)*$/.test(e.path) || e.path.split('/').includes('..')) {
      throw bad('path must be a folder relative to the site root');
    }
    const model: EmbeddedModel = { id: e.id, name: e.name, path: e.path, description: e.description };
    if (e.default === true) model.default = true;
    if (e.lessonExpert !== undefined) {
      if (!Number.isInteger(e.lessonExpert) || (e.lessonExpert as number) < 0) throw bad('lessonExpert must be a non-negative integer');
      model.lessonExpert = e.lessonExpert as number;
    }
    return model;
  });
}

export interface ResolvedSource {
  folder: ModelFolder;
  /** How the page names the model. */
  name: string;
  /** Set for remote models: their estimate and download. */
  hub: HubFolder | null;
}

export interface SourceOptions {
  assetBase: string;
  /** fetch bound to the operation's AbortSignal. */
  fetch: Fetch;
  signal?: AbortSignal;
  cache: CacheLike | null;
  onDownload?: (progress: HubProgress) => void;
}

/** The folder behind a source. */
export async function resolveSource(source: ModelSource, options: SourceOptions): Promise<ResolvedSource> {
  switch (source.kind) {
    case 'embedded': {
      const models = await fetchEmbeddedIndex(options.assetBase, options.fetch);
      const model = models.find((m) => m.id === source.id);
      if (!model) {
        throw new EngineError({
          kind: 'bad-request',
          message: `no embedded model "${source.id}" (there are: ${models.map((m) => m.id).join(', ') || 'none'})`,
        });
      }
      return { folder: urlFolder(model.path, new URL(`${model.path}/`, options.assetBase).href, options.fetch), name: model.name, hub: null };
    }
    case 'files': {
      const folder = filesFolder(source.files);
      return { folder, name: folder.name, hub: null };
    }
    case 'hub': {
      const { fetch, cache, signal, onDownload } = options;
      const hub = hubFolder(source.repo, { fetch, cache, signal, onProgress: onDownload });
      return { folder: hub, name: hub.name, hub };
    }
  }
}

export async function fetchEmbeddedIndex(assetBase: string, fetchImpl: Fetch): Promise<EmbeddedModel[]> {
  const file = 'models/index.json';
  const response = await fetchImpl(new URL(file, assetBase).href);
  if (!response.ok) throw new ModelFileError(file, 'missing-file', `HTTP ${response.status}: the page's model list is missing`);
  let json: unknown;
  try {
    json = await response.json();
  } catch (error) {
    throw new ModelFileError(file, 'bad-json', `not valid JSON (${(error as Error).message})`);
  }
  return parseEmbeddedIndex(file, json);
}
