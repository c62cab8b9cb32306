/**
 * tokenizer.json (+ tokenizer_config.json) -> encode/decode, all in memory (no network), through
 * @huggingface/tokenizers, the pure-JS port of the Rust `tokenizers` crate that transformers' fast tokenizers use.
 * Anything the library cannot build or run becomes a ModelFileError naming tokenizer.json.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { ModelFileError } from './errors.ts';

export interface EncodeOptions {
  /** Add the template's special tokens (e.g. a BOS), as `tokenizer(text)` does in transformers. Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
}

export interface TextTokenizer {
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** One past the highest token id (added tokens included); the model's vocab_size may be larger (padding). */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
}

type Json = Record<string, unknown>;

/** tokenizer.json model types @huggingface/tokenizers implements (WordLevel through its legacy vocab model). */
const MODEL_TYPES = ['BPE', 'WordPiece', 'Unigram', 'WordLevel'];

function asObject(file: string, value: unknown, what: string): Json {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw new ModelFileError(file, 'bad-json', `${what} is not valid JSON (${(error as Error).message})`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ModelFileError(file, 'bad-json', `${what} is not a JSON object`);
  return parsed as Json;
}

/** tokenizer_config.json writes special tokens as a string or as an AddedToken object `{ content, ... }`. */
function specialTokenText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as Json).content === 'string') return (value as Json).content as string;
  return null;
}

/** GPT-2's byte -> character map (bytes_to_unicode): the base alphabet of every byte-level BPE. */
function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

/**
 * A byte-level BPE must hold all 256 byte characters: the library silently drops a piece it cannot find, which
 * would change the text the model sees without a word.
 */
function checkByteLevelAlphabet(file: string, json: Json): void {
  const model = json.model as Json;
  const pre = json.pre_tokenizer as Json | null;
  const steps = pre?.type === 'Sequence' && Array.isArray(pre.pretokenizers) ? (pre.pretokenizers as Json[]) : [pre];
  const byteLevel = steps.some((step) => step?.type === 'ByteLevel');
  if (!byteLevel || model.type !== 'BPE' || model.byte_fallback === true || typeof model.vocab !== 'object' || model.vocab === null) return;
  const missing = byteLevelAlphabet().findIndex((c) => !Object.hasOwn(model.vocab as Json, c));
  if (missing >= 0) {
    throw new ModelFileError(
      file,
      'bad-tokenizer',
      `byte-level BPE without a token for byte 0x${missing.toString(16).padStart(2, '0')}: text with it could not be encoded`,
    );
  }
}

/**
 * Builds a tokenizer from tokenizer.json (object or text) and, when present, tokenizer_config.json. `file` names
 * tokenizer.json in errors (a path, or "repo/tokenizer.json").
 */
export function loadTokenizer(tokenizerJson: unknown, tokenizerConfig?: unknown, file = 'tokenizer.json'): TextTokenizer {
  const json = asObject(file, tokenizerJson, 'tokenizer.json');
  const config = tokenizerConfig == null ? {} : asObject(file, tokenizerConfig, 'tokenizer_config.json');
  if (typeof json.model !== 'object' || json.model === null) throw new ModelFileError(file, 'bad-tokenizer', 'has no "model" section');
  // The library silently falls back to a legacy model for a type it does not know; refuse instead.
  const modelType = (json.model as Json).type;
  if (modelType !== undefined && !MODEL_TYPES.includes(String(modelType))) {
    throw new ModelFileError(file, 'bad-tokenizer', `model type ${JSON.stringify(modelType).slice(0, 40)} is not supported (${MODEL_TYPES.join(', ')} are)`);
  }
  // The library iterates added_tokens unconditionally; tokenizer.json files written by `tokenizers` always have it.
  checkByteLevelAlphabet(file, json);
  const complete = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
  if (!Array.isArray(complete.added_tokens)) throw new ModelFileError(file, 'bad-tokenizer', '"added_tokens" is not a list');
  const failure = (what: string, error: unknown) => new ModelFileError(file, 'bad-tokenizer', `${what}: ${(error as Error)?.message ?? String(error)}`);

  let tokenizer: Tokenizer;
  let vocabSize: number;
  try {
    tokenizer = new Tokenizer(complete, config);
    vocabSize = 0;
    for (const id of tokenizer.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  } catch (error) {
    throw failure('cannot be used', error);
  }
  if (vocabSize === 0) throw new ModelFileError(file, 'bad-tokenizer', 'has an empty vocabulary');

  const idOf = (key: 'bos_token' | 'eos_token'): number | null => {
    const text = specialTokenText(config[key]);
    return text === null ? null : (tokenizer.token_to_id(text) ?? null);
  };

  const encode = (text: string, options: EncodeOptions = {}): number[] => {
    let ids: unknown[];
    try {
      ids = tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    } catch (error) {
      throw failure('could not encode text', error);
    }
    // A BPE model without an unk token maps unknown pieces to undefined: refuse rather than feed the model garbage.
    const bad = ids.findIndex((id) => !Number.isInteger(id));
    if (bad >= 0) throw new ModelFileError(file, 'bad-tokenizer', `could not encode text: piece ${bad} is not in the vocabulary and there is no unk token`);
    return ids as number[];
  };

  try {
    // Some broken files only fail when used (a bad regex in the pre-tokenizer, a vocab of the wrong type).
    tokenizer.encode('Hello, world 1', { add_special_tokens: false });
  } catch (error) {
    throw failure('cannot be used', error);
  }

  return {
    encode,
    decode(ids, options = {}) {
      if (ids.length === 0) return '';
      try {
        return tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
      } catch (error) {
        throw failure('could not decode ids', error);
      }
    },
    vocabSize,
    bosTokenId: idOf('bos_token'),
    eosTokenId: idOf('eos_token'),
  };
}
