/**
 * The one error type the Engine interface rejects with. It is plain data (structured-cloneable), so the same
 * value crosses the worker boundary unchanged and the page shows `message` as it is, naming `file` when the
 * problem is in one. Pure TS: no imports, usable on both sides of the worker.
 */

export type EngineErrorKind =
  | 'model-file' // a model file is missing, malformed or unsupported (ModelFileError): `file` names it
  | 'gpu' // WebGPU unavailable, device lost, out of memory, limits (GpuError): `detail` is its kind
  | 'network' // a download failed (offline, HTTP error, CORS)
  | 'aborted' // the caller cancelled the operation
  | 'no-model' // the operation needs a loaded model and none is loaded
  | 'no-tokenizer' // the loaded model has no usable tokenizer.json
  | 'bad-request' // arguments the engine refuses (an unknown embedded model id, a malformed repo id)
  | 'internal'; // anything else: a bug in the lab, reported with the original message

/** What crosses the worker boundary. */
export interface EngineErrorInfo {
  kind: EngineErrorKind;
  /** One line a person can act on, shown as is. */
  message: string;
  /** The file the problem is in, when there is one. */
  file?: string;
  /** A finer code: the ModelFileError problem or the GpuError kind. */
  detail?: string;
}

export class EngineError extends Error implements EngineErrorInfo {
  override readonly name = 'EngineError';
  readonly kind: EngineErrorKind;
  readonly file?: string;
  readonly detail?: string;

  constructor(info: EngineErrorInfo) {
    super(info.message);
    this.kind = info.kind;
    if (info.file !== undefined) this.file = info.file;
    if (info.detail !== undefined) this.detail = info.detail;
  }

  /** The plain, cloneable form. */
  toInfo(): EngineErrorInfo {
    const info: EngineErrorInfo = { kind: this.kind, message: this.message };
    if (this.file !== undefined) info.file = this.file;
    if (this.detail !== undefined) info.detail = this.detail;
    return info;
  }
}

export function abortedError(what: string): EngineError {
  return new EngineError({ kind: 'aborted', message: `${what} was cancelled.` });
}

/** Throws the aborted error when `signal` has fired: long operations call this between steps. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(what);
}
