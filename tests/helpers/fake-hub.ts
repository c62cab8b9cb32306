/**
 * A Hugging Face Hub in memory for source tests: a `fetch` serving repo files at their resolve URLs (HEAD, GET,
 * single byte ranges, status codes with the Hub's X-Error-Code, an offline switch, a log of requests) and a
 * Cache Storage stand-in that keeps bodies as Blobs, as the browser's does.
 */
import type { CacheLike } from '../../src/engine/io/hub-folder.ts';

export interface FakeFile {
  bytes: Uint8Array;
  /** Answer with this status (and X-Error-Code) instead of the file. */
  status?: number;
  errorCode?: string;
  /** Send only this many bytes of the body while declaring the full Content-Length. */
  cutAt?: number;
}

export interface FakeHub {
  fetch: typeof fetch;
  requests: { method: string; url: string; range: string | null }[];
  /** When true, every request fails like a dropped connection. */
  offline: boolean;
  /** Called for each body chunk sent (lets a test abort mid-download). */
  onChunk?: (url: string, sent: number) => void;
}

/** `files` maps full URLs to files; anything else is a 404 (with X-Error-Code EntryNotFound, as the Hub sends). */
export function fakeHub(files: Record<string, FakeFile>, chunkBytes = 16384): FakeHub {
  const hub: FakeHub = {
    requests: [],
    offline: false,
    fetch: async (input, init) => {
      const url = String(input);
      const method = init?.method ?? 'GET';
      const range = new Headers(init?.headers).get('range');
      hub.requests.push({ method, url, range });
      if (init?.signal?.aborted) throw new DOMException('The operation was aborted.', 'AbortError');
      if (hub.offline) throw new TypeError('fetch failed');
      const file = files[url];
      if (!file) return new Response('Entry not found', { status: 404, headers: { 'x-error-code': 'EntryNotFound' } });
      if (file.status) return new Response('no', { status: file.status, headers: file.errorCode ? { 'x-error-code': file.errorCode } : {} });
      const { bytes } = file;
      const match = /^bytes=(\d+)-(\d+)$/.exec(range ?? '');
      const start = match ? Number(match[1]) : 0;
      const end = match ? Math.min(Number(match[2]), bytes.byteLength - 1) : bytes.byteLength - 1;
      const body = bytes.subarray(start, Math.min(end + 1, file.cutAt ?? Infinity));
      const headers: Record<string, string> = { 'content-length': String(end + 1 - start), 'content-type': 'application/octet-stream' };
      if (match) headers['content-range'] = `bytes ${start}-${end}/${bytes.byteLength}`;
      if (method === 'HEAD') return new Response(null, { status: 200, headers });
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (init?.signal?.aborted) return controller.error(new DOMException('The operation was aborted.', 'AbortError'));
          if (sent >= body.byteLength) return controller.close();
          const chunk = body.slice(sent, sent + chunkBytes);
          sent += chunk.byteLength;
          controller.enqueue(chunk);
          hub.onChunk?.(url, sent);
        },
      });
      return new Response(stream, { status: match ? 206 : 200, headers });
    },
  };
  return hub;
}

/** Cache Storage in memory: bodies stored as Blobs; `put` consumes the response like the browser's. */
export function memoryCache(): CacheLike & { keys(): string[] } {
  const entries = new Map<string, { blob: Blob; headers: Headers }>();
  return {
    async match(key) {
      const entry = entries.get(key);
      return entry ? new Response(entry.blob, { headers: entry.headers }) : undefined;
    },
    async put(key, response) {
      const blob = await response.blob();
      entries.set(key, { blob, headers: new Headers(response.headers) });
    },
    async delete(key) {
      return entries.delete(key);
    },
    keys: () => [...entries.keys()],
  };
}
