/**
 * Model sources -> ModelFolder, inside the worker: embedded models (public/models, read over fetch with HTTP
 * range requests), files the user dropped or picked, and Hugging Face repos.
 *
 * The loader (src/engine/io/) is getting full readers for the last two (files-folder.ts, hub-folder.ts with
 * estimates, Cache Storage and per-file progress); until they land this file carries small ones: exact-name
 * lookup among dropped files, and the repo's `resolve/<revision>/` URLs read lazily, without caching.
 */
import type { DroppedFile, EmbeddedModel, ModelSource } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import { ModelFileError } from '../engine/errors.ts';
import { BlobByteSource, HttpByteSource, type ByteSource, type Fetch } from '../engine/io/byte-source.ts';
import { hubRepoId, parseHubRepo } from '../engine/experiment/schema.ts';
import type { ModelFolder } from '../engine/model/checkpoint.ts';

/**
 * A folder at `baseUrl` (ending in '/'). Existence and size come from a HEAD request; a 404, or an HTML page
 * (the index.html a development server sends for any unknown path), means "no such file".
 */
export function urlFolder(name: string, baseUrl: string, fetchImpl: Fetch): ModelFolder {
  const opened = new Map<string, Promise<ByteSource | null>>();
  const open = async (path: string): Promise<ByteSource | null> => {
    const url = new URL(path, baseUrl).href;
    const file = `${name}/${path}`;
    const response = await fetchImpl(url, { method: 'HEAD' });
    if (response.status === 404) return null;
    if (response.status === 401 || response.status === 403) {
      throw new ModelFileError(file, 'missing-file', `HTTP ${response.status}: the repository is gated or private (accept its terms on huggingface.co, or download it and drop the folder here)`);
    }
    if (!response.ok) throw new ModelFileError(file, 'missing-file', `HTTP ${response.status} from ${url}`);
    if ((response.headers.get('content-type') ?? '').includes('text/html')) return null;
    const length = response.headers.get('content-length');
    const size = length !== null && /^\d+$/.test(length) ? Number(length) : undefined;
    return new HttpByteSource(file, url, fetchImpl, size);
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

/**
 * Files dropped or picked, looked up by their path inside the dropped folder (the shared top folder stripped) or
 * by their name. A lone `*.safetensors` under another name stands in for model.safetensors.
 */
export function droppedFilesFolder(files: readonly DroppedFile[]): ModelFolder {
  const entries = files.map((entry) =>
    entry instanceof File ? { path: entry.webkitRelativePath || entry.name, file: entry } : { path: entry.path, file: entry.file },
  );
  const tops = new Set(entries.map((e) => (e.path.includes('/') ? e.path.slice(0, e.path.indexOf('/')) : '')));
  const top = tops.size === 1 ? [...tops][0] : '';
  const byPath = new Map<string, { file: File; shownAs: string }>();
  for (const { path, file } of entries) byPath.set(top ? path.slice(top.length + 1) : path, { file, shownAs: path });
  const safetensors = [...byPath.keys()].filter((p) => p.endsWith('.safetensors'));
  if (!byPath.has('model.safetensors') && !byPath.has('model.safetensors.index.json') && safetensors.length === 1) {
    byPath.set('model.safetensors', byPath.get(safetensors[0])!);
  }
  return {
    name: top || 'dropped files',
    async open(path) {
      const found = byPath.get(path);
      // Errors name the file as the user knows it, not the name the checkpoint reader asked for.
      return found ? new BlobByteSource(found.shownAs, found.file) : null;
    },
  };
}

/** parseHubRepo, or a bad-request error saying what is accepted. */
export function requireHubRepo(input: string): { repo: string; revision: string } {
  const parsed = parseHubRepo(input);
  if (parsed) return parsed;
  throw new EngineError({
    kind: 'bad-request',
    message: `"${input.trim()}" is not a Hugging Face repo id (org/name, org/name@revision) or a https://huggingface.co/org/name URL`,
  });
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
    return model;
  });
}

export interface ResolvedSource {
  folder: ModelFolder;
  /** How the page names the model. */
  name: string;
  /** Whether the files come over the network (their sizes count as download). */
  remote: boolean;
}

/** The folder behind a source; `fetchImpl` carries the operation's AbortSignal. */
export async function resolveSource(source: ModelSource, assetBase: string, fetchImpl: Fetch): Promise<ResolvedSource> {
  switch (source.kind) {
    case 'embedded': {
      const models = await fetchEmbeddedIndex(assetBase, fetchImpl);
      const model = models.find((m) => m.id === source.id);
      if (!model) {
        throw new EngineError({ kind: 'bad-request', message: `no embedded model "${source.id}" (there are: ${models.map((m) => m.id).join(', ') || 'none'})` });
      }
      return { folder: urlFolder(model.path, new URL(`${model.path}/`, assetBase).href, fetchImpl), name: model.name, remote: false };
    }
    case 'files': {
      if (!source.files.length) throw new EngineError({ kind: 'bad-request', message: 'no files were given' });
      const folder = droppedFilesFolder(source.files);
      return { folder, name: folder.name, remote: false };
    }
    case 'hub': {
      const { repo, revision } = requireHubRepo(source.repo);
      const base = `https://huggingface.co/${repo}/resolve/${encodeURIComponent(revision)}/`;
      return { folder: urlFolder(repo, base, fetchImpl), name: hubRepoId({ repo, revision }), remote: true };
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
