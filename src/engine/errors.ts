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
  | 'unsupported';

export class ModelFileError extends Error {
  override readonly name = 'ModelFileError';
  constructor(
    readonly file: string,
    readonly problem: ModelFileProblem,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`);
  }
}
