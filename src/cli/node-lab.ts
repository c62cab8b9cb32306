/**
 * The lab service (src/lab/lab-service.ts) in Node: the same object the page's worker hosts, on Dawn, reading the
 * page's files (public/: models/index.json and the embedded models, data/index.json and the texts) from the
 * repository on disk through a fetch that answers as the page's static server does (HEAD with the size, GET with
 * Range). So `moe-lab run` loads an embedded model and reads a link's texts with the page's own code.
 */
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ModelFileError } from '../engine/errors.ts';
import type { Fetch } from '../engine/io/byte-source.ts';
import { createNodeGpuContext } from '../gpu/node.ts';
import { LabService } from '../lab/lab-service.ts';

/** The page's files: public/ of this checkout (beside src/), else ./public of the working directory. */
export function siteFolder(): string {
  const candidates = [fileURLToPath(new URL('../../public/', import.meta.url)), resolve('public')];
  const found = candidates.find((dir) => existsSync(join(dir, 'models', 'index.json')));
  if (!found) {
    throw new ModelFileError(
      join(candidates[0], 'models', 'index.json'),
      'missing-file',
      "the page's files (public/) are not here: run moe-lab from a clone of the repository, or from the folder that holds public/",
    );
  }
  return found;
}

const BYTES = /^bytes=(\d+)-(\d*)$/;

/**
 * fetch for file: URLs under `root` (a folder), as a static server answers: 404 for a missing file, HEAD with
 * Content-Length, GET with `Range: bytes=a-b` as 206 and Content-Range (only those bytes are read). Other URLs go
 * to the network fetch.
 */
export function folderFetch(root: string): Fetch {
  const base = pathToFileURL(`${resolve(root)}/`).href;
  return async (input, init) => {
    if (!input.startsWith(base)) return fetch(input, init);
    const path = fileURLToPath(input);
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) return new Response('Not Found', { status: 404 });
      size = info.size;
    } catch {
      return new Response('Not Found', { status: 404 });
    }
    const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    if ((init?.method ?? 'GET').toUpperCase() === 'HEAD') return new Response(null, { status: 200, headers: { ...headers, 'content-length': String(size) } });
    const range = new Headers(init?.headers).get('range');
    const match = range ? BYTES.exec(range) : null;
    if (range && !match) return new Response('Range Not Satisfiable', { status: 416, headers: { 'content-range': `bytes */${size}` } });
    const start = match ? Number(match[1]) : 0;
    const end = match && match[2] !== '' ? Math.min(Number(match[2]), size - 1) : size - 1;
    if (match && start >= size) return new Response('Range Not Satisfiable', { status: 416, headers: { 'content-range': `bytes */${size}` } });
    const bytes = new Uint8Array(Math.max(0, end - start + 1));
    const handle = await open(path, 'r');
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesRead } = await handle.read(bytes, done, bytes.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } finally {
      await handle.close();
    }
    const body = bytes as Uint8Array<ArrayBuffer>;
    if (!match) return new Response(body, { status: 200, headers: { ...headers, 'content-length': String(size) } });
    return new Response(body, {
      status: 206,
      headers: { ...headers, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(bytes.length) },
    });
  };
}

/** A lab service on Dawn over the page's files; `dispose()` it to close the GPU device. */
export function nodeLab(label: string): LabService {
  const site = siteFolder();
  return new LabService({
    assetBase: pathToFileURL(`${site}/`).href,
    fetch: folderFetch(site),
    openGpu: () => createNodeGpuContext({ label }),
    // Remote models are read by range, never cached (the CLI keeps no Cache Storage).
    openCache: async () => null,
  });
}
