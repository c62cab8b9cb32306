/**
 * Files the user dropped or picked in the browser as one model folder. A dropped or `webkitdirectory`-picked
 * folder gives each File a `webkitRelativePath` ("mixtral/config.json"); the shared top folder is stripped so
 * paths match the checkpoint's ("config.json"). Loose picked files are known by name. Reads stay lazy (Blob.slice).
 */
import { ModelFileError } from '../errors.ts';
import { BlobByteSource, type ByteSource } from './byte-source.ts';
import type { ModelFolder } from '../model/checkpoint.ts';

/** A file with an explicit path inside the folder (e.g. from a DataTransfer directory walk). */
export interface PathedFile {
  path: string;
  file: Blob;
}

export interface FilesFolder extends ModelFolder {
  /** The paths found, after stripping the shared top folder. */
  readonly paths: string[];
}

function pathOf(entry: File | PathedFile): string {
  const raw = 'path' in entry && typeof entry.path === 'string' ? entry.path : (entry as File).webkitRelativePath || (entry as File).name;
  return raw.replace(/\\/g, '/').replace(/^\/+/, '');
}

function blobOf(entry: File | PathedFile): Blob {
  return 'file' in entry ? entry.file : entry;
}

/**
 * A folder over dropped or picked files. When exactly one *.safetensors file is given under another name and there
 * is no shard index, it stands in for model.safetensors (a renamed download).
 */
export function filesFolder(entries: Iterable<File | PathedFile>): FilesFolder {
  const list = [...entries].map((entry) => ({ path: pathOf(entry), blob: blobOf(entry) }));
  if (list.length === 0) throw new ModelFileError('dropped files', 'missing-file', 'no files were given');
  const tops = new Set(list.map((f) => (f.path.includes('/') ? f.path.slice(0, f.path.indexOf('/')) : null)));
  const top = tops.size === 1 ? [...tops][0] : null;
  const name = top ?? 'dropped files';
  const byPath = new Map<string, { blob: Blob; shownAs: string }>();
  for (const { path, blob } of list) {
    const inside = top === null ? path : path.slice(top.length + 1);
    if (byPath.has(inside)) throw new ModelFileError(`${name}/${inside}`, 'bad-layout', 'given twice (drop one model folder at a time)');
    byPath.set(inside, { blob, shownAs: top === null ? path : `${top}/${inside}` });
  }
  const safetensors = [...byPath.keys()].filter((p) => p.endsWith('.safetensors') && !p.includes('/'));
  if (!byPath.has('model.safetensors') && !byPath.has('model.safetensors.index.json') && safetensors.length === 1) {
    byPath.set('model.safetensors', byPath.get(safetensors[0])!);
  }
  return {
    name,
    paths: [...byPath.keys()],
    async open(path: string): Promise<ByteSource | null> {
      const found = byPath.get(path);
      // Errors name the file as the user knows it, not the name the checkpoint reader asked for.
      return found ? new BlobByteSource(found.shownAs, found.blob) : null;
    },
  };
}
