/**
 * Calibration sets: N windows of L tokens drawn from a token stream with a seeded generator, so that
 * (text, tokenizer, N, L, seed) fixes the set exactly.
 *
 * Rule (as Wanda/SparseGPT draw C4 samples — a random start per sample — but over one stream): tokenize the whole
 * text once, without special tokens; then for sample i = 0..N-1 draw start_i = rng.int(n - L + 1) from
 * createRng(seed) (src/engine/random.ts, mulberry32) and take tokens[start_i, start_i + L). Samples may overlap.
 * N, L and the seed default to the settings vocabulary's (src/engine/experiment/vocabulary.ts), on the page and the CLI alike.
 */
import { createRng } from '../random.ts';

export interface CalibrationSetOptions {
  samples: number; // N
  seqLen: number; // L
  seed: number;
}

export function sampleWindows(tokens: ArrayLike<number>, { samples, seqLen, seed }: CalibrationSetOptions): number[][] {
  if (!Number.isInteger(samples) || samples < 1) throw new RangeError(`samples must be a positive integer (got ${samples})`);
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`sequence length must be an integer >= 2 (got ${seqLen})`);
  if (tokens.length < seqLen) {
    throw new RangeError(`the calibration text has ${tokens.length} tokens, fewer than one window of ${seqLen}`);
  }
  const rng = createRng(seed);
  const windows: number[][] = [];
  for (let i = 0; i < samples; i++) {
    const start = rng.int(tokens.length - seqLen + 1);
    windows.push(Array.from({ length: seqLen }, (_, t) => tokens[start + t]));
  }
  return windows;
}

/**
 * Explicit ids (IDS.json): a list of token ids is one window; a list of lists is one window each (all the same
 * length, so they can run as one batch).
 */
export function windowsFromIds(json: unknown, source: string): number[][] {
  const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0);
  if (isIds(json)) return [json];
  if (Array.isArray(json) && json.length > 0 && json.every(isIds)) {
    const length = (json[0] as number[]).length;
    if (json.some((w) => (w as number[]).length !== length)) throw new RangeError(`${source}: all windows must have the same length`);
    return json as number[][];
  }
  throw new RangeError(`${source}: expected a JSON array of token ids, or an array of such arrays`);
}
