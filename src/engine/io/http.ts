/**
 * HTTP helpers shared by the URL byte source and the Hugging Face folder: every failure becomes a ModelFileError
 * that says what happened (gated repo, no such file, offline, cancelled), and response bodies are read with a cap,
 * so a server that ignores Range or lies about sizes cannot make us buffer a whole checkpoint.
 */
import { ModelFileError } from '../errors.ts';

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** The global fetch, looked up at call time so tests and workers can replace it. */
export const defaultFetch: Fetch = (input, init) => fetch(input, init);

export function cancelledError(name: string): ModelFileError {
  return new ModelFileError(name, 'cancelled', 'cancelled');
}

/** fetch() with network failures and aborts turned into ModelFileError. */
export async function fetchOrThrow(fetchImpl: Fetch, name: string, url: string, init: RequestInit = {}): Promise<Response> {
  if (init.signal?.aborted) throw cancelledError(name);
  try {
    return await fetchImpl(url, init);
  } catch (error) {
    if (init.signal?.aborted || (error as Error)?.name === 'AbortError') throw cancelledError(name);
    throw new ModelFileError(name, 'network', `could not reach ${url} (${(error as Error)?.message ?? String(error)})`);
  }
}

/**
 * The error for a non-OK answer. The Hub says why in `x-error-code` (RepoNotFound, GatedRepo, EntryNotFound,
 * RevisionNotFound); without it, 401/403 mean gated or private and 404 means no such file.
 */
export function httpStatusError(name: string, url: string, response: Response): ModelFileError {
  const code = response.headers.get('x-error-code');
  const status = `HTTP ${response.status}`;
  if (code === 'GatedRepo') {
    return new ModelFileError(name, 'forbidden', `gated repository: accept its license on huggingface.co and sign in (${status} for ${url})`);
  }
  if (code === 'RepoNotFound') return new ModelFileError(name, 'missing-file', `no such repository, or it is private (${status} for ${url})`);
  if (code === 'RevisionNotFound') return new ModelFileError(name, 'missing-file', `no such revision (${status} for ${url})`);
  if (response.status === 401 || response.status === 403) {
    return new ModelFileError(name, 'forbidden', `access denied: the repository is gated or private (${status} for ${url})`);
  }
  if (response.status === 404 || code === 'EntryNotFound') return new ModelFileError(name, 'missing-file', `not found (${status} for ${url})`);
  return new ModelFileError(name, 'network', `the server answered ${status} for ${url}`);
}

/** Total size from `Content-Range: bytes a-b/total` (or `bytes *\/total` on a 416), null when absent or malformed. */
export function contentRangeTotal(response: Response): number | null {
  const match = /\/(\d{1,16})\s*$/.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : null;
}

/** Start of the range in `Content-Range: bytes a-b/total`, null when absent or malformed. */
export function contentRangeStart(response: Response): number | null {
  const match = /^\s*bytes\s+(\d{1,16})-\d{1,16}\//.exec(response.headers.get('content-range') ?? '');
  return match ? Number(match[1]) : null;
}

/** `Content-Length` as a safe integer, null when absent or malformed. */
export function contentLength(response: Response): number | null {
  const raw = response.headers.get('content-length');
  if (raw === null || !/^\s*\d{1,16}\s*$/.test(raw)) return null;
  return Number(raw);
}

/** A failure while a body streams in, as a ModelFileError: cancelled when the signal fired, else a network error. */
export function transferError(name: string, error: unknown, signal?: AbortSignal): ModelFileError {
  if (error instanceof ModelFileError) return error;
  if (signal?.aborted || (error as Error)?.name === 'AbortError') return cancelledError(name);
  return new ModelFileError(name, 'network', `download interrupted (${(error as Error)?.message ?? String(error)})`);
}

/**
 * Feeds a response body to `take` chunk by chunk until it returns false or the body ends, then stops the download:
 * however large the body, only what `take` keeps stays in memory.
 */
async function consumeBody(name: string, response: Response, take: (chunk: Uint8Array) => boolean, signal?: AbortSignal): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  try {
    for (;;) {
      if (signal?.aborted) throw cancelledError(name);
      const { done, value } = await reader.read();
      if (done || !take(value)) break;
    }
  } catch (error) {
    throw transferError(name, error, signal);
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

/**
 * Bytes [skip, skip + length) of a response body, the download stopped as soon as they are in: memory stays
 * `length` whatever the body's size. Throws 'truncated' when the body ends early.
 */
export async function readBodySlice(name: string, response: Response, skip: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let seen = 0;
  let filled = 0;
  if (length > 0) {
    await consumeBody(
      name,
      response,
      (chunk) => {
        const chunkStart = seen;
        seen += chunk.byteLength;
        if (seen > skip) {
          const from = Math.max(0, skip - chunkStart);
          const count = Math.min(chunk.byteLength - from, length - filled);
          out.set(chunk.subarray(from, from + count), filled);
          filled += count;
        }
        return filled < length;
      },
      signal,
    );
  } else {
    await response.body?.cancel().catch(() => undefined);
  }
  if (filled < length) {
    throw new ModelFileError(name, 'truncated', `expected ${length} bytes at ${skip}, the server sent ${Math.max(0, seen - skip)}`);
  }
  return out;
}

/** A whole small body as UTF-8 text, refused as soon as it passes `maxBytes` (declared or actual). */
export async function readBodyText(name: string, response: Response, maxBytes: number, signal?: AbortSignal): Promise<string> {
  const tooLarge = (size: number | string) => new ModelFileError(name, 'unsupported', `file is ${size} bytes, more than the ${maxBytes}-byte limit for it`);
  const declared = contentLength(response);
  if (declared !== null && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge(declared);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  await consumeBody(
    name,
    response,
    (chunk) => {
      total += chunk.byteLength;
      if (total > maxBytes) throw tooLarge(`over ${maxBytes}`);
      chunks.push(chunk);
      return true;
    },
    signal,
  );
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelFileError(name, 'bad-json', 'not valid UTF-8 text');
  }
}
