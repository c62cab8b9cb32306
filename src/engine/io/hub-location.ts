/**
 * Where a remote model folder is: a Hugging Face repo id (`org/name`, `org/name@revision`), a huggingface.co URL
 * (the repo page, or its tree/blob/resolve URLs), or any https URL of a folder. Everything becomes one base URL
 * that file names are appended to; Hub files resolve to `https://huggingface.co/{repo}/resolve/{revision}/{file}`
 * (the revision percent-encoded, so `refs/pr/1` works, as huggingface_hub's hf_hub_url does).
 */
import { ModelFileError } from '../errors.ts';

export interface ModelLocation {
  kind: 'hub' | 'url';
  /** How messages name the folder: `org/name`, `org/name@rev`, or the URL. */
  name: string;
  /** Ends with '/'; a file's URL is baseUrl + its path. */
  baseUrl: string;
  /** Hub only: the repo id and revision (branch, tag or commit). */
  repo: string | null;
  revision: string | null;
}

export const HUB_ENDPOINT = 'https://huggingface.co';

/** Hub repo names: letters, digits, '-', '_', '.', at most 96 each side, no '--' or '..' (huggingface_hub's rule). */
const REPO_ID = /^[\w.-]{1,96}\/[\w.-]{1,96}$/;
const HUB_HOSTS = new Set(['huggingface.co', 'www.huggingface.co', 'hf.co']);
/** The last URL segment names a file, not a folder, when it has one of these extensions. */
const FILE_EXTENSION = /\.(json|safetensors|txt|model|md|bin|gguf)$/i;

function isRepoId(text: string): boolean {
  return REPO_ID.test(text) && !text.includes('--') && !text.includes('..') && !/^[.-]|[.-]$|\/[.-]|[.-]\//.test(text);
}

function badLocation(input: string, why: string): ModelFileError {
  return new ModelFileError(input, 'bad-location', why);
}

function hubLocation(repo: string, revision: string, subfolder: string, endpoint: string): ModelLocation {
  const path = subfolder ? `${subfolder.split('/').map(encodeURIComponent).join('/')}/` : '';
  return {
    kind: 'hub',
    name: `${repo}${revision === 'main' ? '' : `@${revision}`}${subfolder ? `/${subfolder}` : ''}`,
    baseUrl: `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`,
    repo,
    revision,
  };
}

/** A huggingface.co URL: /org/name, /org/name/tree/rev[/dir], /org/name/blob|resolve/rev/dir/file. */
function parseHubUrl(input: string, url: URL, endpoint: string): ModelLocation {
  const segments = url.pathname
    .split('/')
    .filter(Boolean)
    .map((s) => decodeURIComponent(s));
  if (['datasets', 'spaces', 'collections', 'models', 'papers'].includes(segments[0] ?? '')) {
    throw badLocation(input, `not a model repository URL (/${segments[0]}/...); give https://huggingface.co/org/name`);
  }
  const repo = segments.slice(0, 2).join('/');
  if (!isRepoId(repo)) throw badLocation(input, 'expected https://huggingface.co/org/name');
  const [kind, revision, ...rest] = segments.slice(2);
  if (kind === undefined) return hubLocation(repo, 'main', '', endpoint);
  if (!['tree', 'blob', 'resolve'].includes(kind) || !revision) {
    throw badLocation(input, `unexpected /${kind}/ in a repo URL (expected /tree/, /blob/ or /resolve/ and a revision)`);
  }
  // blob and resolve URLs point at a file: the model folder is the one holding it.
  const folder = kind === 'tree' ? rest : rest.slice(0, -1);
  if (folder.some((s) => s === '..' || s === '.')) throw badLocation(input, 'the path must not contain . or ..');
  return hubLocation(repo, revision, folder.join('/'), endpoint);
}

/**
 * Parses what a person typed or pasted into a model location. https only, except for loopback addresses
 * (a local test server or `vite preview`).
 */
export function parseModelLocation(input: string, endpoint: string = HUB_ENDPOINT): ModelLocation {
  const text = input.trim();
  if (!text) throw badLocation('(empty)', 'give a Hugging Face repo id (org/name) or an https URL');
  const at = text.indexOf('@');
  if (!text.includes('://')) {
    const repo = at >= 0 ? text.slice(0, at) : text;
    const revision = at >= 0 ? text.slice(at + 1) : 'main';
    if (!isRepoId(repo)) throw badLocation(text, 'not a Hugging Face repo id (org/name or org/name@revision) or an https URL');
    if (!revision || !/^[\w./-]{1,256}$/.test(revision) || revision.split('/').includes('..')) {
      throw badLocation(text, `revision ${JSON.stringify(revision).slice(0, 60)} is not a branch, tag or commit name`);
    }
    return hubLocation(repo, revision, '', endpoint);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw badLocation(text, 'not a valid URL');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw badLocation(text, 'only https URLs can be loaded (http only from localhost)');
  }
  if (url.username || url.password) throw badLocation(text, 'URLs with credentials are not accepted');
  if (HUB_HOSTS.has(url.hostname)) return parseHubUrl(text, url, endpoint);
  url.search = '';
  url.hash = '';
  let base = url.href;
  if (FILE_EXTENSION.test(url.pathname)) base = new URL('.', url).href;
  if (!base.endsWith('/')) base += '/';
  return { kind: 'url', name: base.replace(/\/$/, ''), baseUrl: base, repo: null, revision: null };
}

/** A file's URL under a location: path segments are percent-encoded, slashes kept. */
export function fileUrl(location: ModelLocation, path: string): string {
  return location.baseUrl + path.split('/').map(encodeURIComponent).join('/');
}
