/**
 * Errors about a model's files: always name the file and what is wrong with it, in one line, so the CLI can print
 * `message` as it is and the page can show it next to the file the user gave.
 */
export type ModelFileProblem =
  | 'missing-file'
  | 'bad-header'
  | 'truncated'
  | 'bad-json'
  | 'bad-dtype'
  | 'bad-layout'
  | 'unknown-architecture'
  | 'bad-config'
  | 'missing-tensor'
  | 'shape-mismatch'
  | 'unsupported'
  | 'bad-tokenizer'
  /** A model location (repo id, URL) that cannot be parsed. */
  | 'bad-location'
  /** HTTP 401/403: a gated or private repository. */
  | 'forbidden'
  /** The request never got an HTTP answer (offline, DNS, CORS, connection reset). */
  | 'network'
  /** The caller's AbortSignal fired. */
  | 'cancelled';

/** Longest detail kept in a message: hostile files can put megabytes into a name. */
const MAX_DETAIL_CHARS = 400;

/**
 * Text from a file made safe for a one-line message: control characters (newlines included) are escaped and the
 * result is cut to `maxChars`, so a hostile name can neither span lines nor flood the terminal.
 */
export function oneLine(text: string, maxChars = MAX_DETAIL_CHARS): string {
  const cut = text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A name taken from a file (tensor name, JSON key, dtype), quoted and bounded for a message. */
export function quoted(name: string, maxChars = 80): string {
  return `'${oneLine(name, maxChars)}'`;
}

export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
  constructor(
    readonly file: string,
    readonly problem: ModelFileProblem,
    readonly detail: string,
  ) {
    super(`${oneLine(file, 200)}: ${oneLine(detail)}`);
  }
}
