/** Answers a routed request with a file, from disk or memory, as a static server does: HEAD with the size, GET with one Range. */
import { readFileSync, statSync } from 'node:fs';
import type { Route } from '@playwright/test';

/** Serves `path` (404 when it is not a file); `headers` are added to every answer (e.g. CORS for a fake Hub). */
export async function serveFile(route: Route, path: string, headers: Record<string, string> = {}): Promise<void> {
  let bytes: Buffer | undefined;
  try {
    if (statSync(path).isFile()) bytes = readFileSync(path);
  } catch {
    // no such file: 404 below
  }
  return serveBytes(route, bytes, headers);
}

/**
 * Serves a model folder held in memory (file name -> bytes) at the request's last path component: test models built
 * by the tests themselves, so that no run leaves copies on disk.
 */
export function serveFolder(route: Route, files: ReadonlyMap<string, Buffer>): Promise<void> {
  return serveBytes(route, files.get(new URL(route.request().url()).pathname.split('/').pop()!));
}

/** Serves `bytes` (404 when undefined). */
async function serveBytes(route: Route, bytes: Buffer | undefined, headers: Record<string, string> = {}): Promise<void> {
  const request = route.request();
  if (!bytes) return route.fulfill({ status: 404, body: 'Entry not found', headers });
  const all: Record<string, string> = {
    ...headers,
    'content-type': 'application/octet-stream',
    'content-length': String(bytes.byteLength),
    'accept-ranges': 'bytes',
  };
  if (request.method() === 'HEAD') return route.fulfill({ status: 200, headers: all });
  const range = /^bytes=(\d+)-(\d+)$/.exec((await request.allHeaders())['range'] ?? '');
  if (!range) return route.fulfill({ status: 200, headers: all, body: bytes });
  const start = Number(range[1]);
  const end = Math.min(Number(range[2]), bytes.byteLength - 1);
  return route.fulfill({
    status: 206,
    headers: { ...all, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${bytes.byteLength}` },
    body: bytes.subarray(start, end + 1),
  });
}
