/**
 * Any thrown value -> the EngineError the page shows. The engine's own typed errors keep their message (which
 * already names the file or says what to do); everything else is reported as 'internal' with its message, so a
 * bug is visible rather than hidden behind a generic sentence.
 */
import { EngineError } from '../api/errors.ts';
import { ModelFileError } from '../engine/errors.ts';
import { GpuError } from '../gpu/errors.ts';

export function toEngineError(error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  if (error instanceof ModelFileError) {
    // The loader reports downloads and locations as file problems; the page treats those three apart.
    const kind =
      error.problem === 'cancelled' ? 'aborted' : error.problem === 'network' ? 'network' : error.problem === 'bad-location' ? 'bad-request' : 'model-file';
    return new EngineError({ kind, message: error.message, file: error.file, detail: error.problem });
  }
  if (error instanceof GpuError) return new EngineError({ kind: 'gpu', message: error.message, detail: error.kind });
  if (error instanceof Error || isErrorLike(error)) {
    const { name, message } = error as { name: string; message: string };
    // fetch() and AbortSignal.throwIfAborted() reject with a DOMException named AbortError.
    if (name === 'AbortError') return new EngineError({ kind: 'aborted', message: 'The operation was cancelled.' });
    if (name === 'UsageError') return new EngineError({ kind: 'bad-request', message });
    // fetch() rejects with a bare TypeError when the network or CORS fails; it never says which.
    if (name === 'TypeError' && /fetch|network/i.test(message)) {
      return new EngineError({ kind: 'network', message: `A download failed (${message}): check the connection and the address.` });
    }
    return new EngineError({ kind: 'internal', message: `${name}: ${message}` });
  }
  return new EngineError({ kind: 'internal', message: String(error) });
}

function isErrorLike(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { message?: unknown }).message === 'string' &&
    typeof (value as { name?: unknown }).name === 'string'
  );
}
