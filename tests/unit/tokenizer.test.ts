/**
 * tokenizer.json loaded from memory: a small byte-level BPE (GPT-2 style, written here) round-trips ASCII and
 * non-ASCII text, applies its merges, adds and skips BOS/EOS as tokenizer_config.json says, and a file the library
 * cannot use gives a ModelFileError naming tokenizer.json.
 */
import { describe, expect, it } from 'vitest';
import { ModelFileError } from '../../src/engine/errors.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';

/** GPT-2's reversible byte -> printable character map (bytes_to_unicode). */
function byteToChar(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let extra = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + extra++));
}

const BYTE = byteToChar();
const space = BYTE[32]; // 'Ġ'
const MERGES: [string, string][] = [
  ['h', 'e'],
  ['l', 'l'],
  ['he', 'll'],
  ['hell', 'o'],
  [space, 'w'],
  ['o', 'r'],
  [`${space}w`, 'or'],
];
// Ids 0..255 are the bytes, 256..262 the merges' results (hello = 259, Ġwor = 262), then the two specials.
const BOS = 256 + MERGES.length;
const EOS = BOS + 1;

function byteLevelBpe(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  BYTE.forEach((c, i) => (vocab[c] = i));
  MERGES.forEach(([a, b], i) => (vocab[a + b] = 256 + i));
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(BOS, '<s>'), special(EOS, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [BOS], tokens: ['<s>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES.map((m) => m.join(' ')),
    },
  };
}

const CONFIG = { bos_token: '<s>', eos_token: { content: '</s>', special: true }, clean_up_tokenization_spaces: false };

describe('loadTokenizer', () => {
  const tokenizer = loadTokenizer(byteLevelBpe(), CONFIG);

  it('applies the merges and the BOS template', () => {
    expect(tokenizer.encode('hello world', { addSpecialTokens: false })).toEqual([259, 262, 'l'.charCodeAt(0), 'd'.charCodeAt(0)]);
    expect(tokenizer.encode('hello')).toEqual([BOS, 259]);
    expect(tokenizer.encode('hello', { addSpecialTokens: false })).toEqual([259]);
  });

  it('round-trips ASCII and non-ASCII text byte for byte', () => {
    for (const text of ['hello world', 'Hello, World! 123 .,;', 'tab\tand\nnewline', 'héllo wörld — naïve café', '中文字符 и кириллица', 'emoji 😀👍🏽 ✓', '']) {
      const ids = tokenizer.encode(text, { addSpecialTokens: false });
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tokenizer.vocabSize)).toBe(true);
      expect(tokenizer.decode(ids)).toBe(text);
    }
    // Non-ASCII falls back to one token per UTF-8 byte: 'é' is two bytes.
    expect(tokenizer.encode('é', { addSpecialTokens: false })).toEqual([0xc3, 0xa9]);
  });

  it('reports vocabulary size and special token ids, and skips specials on request', () => {
    expect(tokenizer.vocabSize).toBe(EOS + 1);
    expect([tokenizer.bosTokenId, tokenizer.eosTokenId]).toEqual([BOS, EOS]);
    expect(tokenizer.decode([BOS, 259, EOS], { skipSpecialTokens: true })).toBe('hello');
    expect(tokenizer.decode([BOS, 259])).toBe('<s>hello');
    expect(loadTokenizer(JSON.stringify(byteLevelBpe())).bosTokenId).toBeNull();
  });

  it('names tokenizer.json when it cannot be used', () => {
    const failure = (json: unknown, config?: unknown) => {
      try {
        loadTokenizer(json, config, 'repo/tokenizer.json');
      } catch (error) {
        expect(error).toBeInstanceOf(ModelFileError);
        expect((error as ModelFileError).message.startsWith('repo/tokenizer.json: ')).toBe(true);
        return (error as ModelFileError).problem;
      }
      throw new Error('tokenizer accepted');
    };
    expect(failure('{"model": ')).toBe('bad-json');
    expect(failure([])).toBe('bad-json');
    expect(failure({ version: '1.0' })).toBe('bad-tokenizer');
    expect(failure({ ...byteLevelBpe(), model: { type: 'NoSuchModel', vocab: {} } })).toBe('bad-tokenizer');
    expect(failure({ ...byteLevelBpe(), added_tokens: 'none' })).toBe('bad-tokenizer');
    expect(failure({ ...byteLevelBpe(), pre_tokenizer: { type: 'Split', pattern: { Regex: '(' }, behavior: 'Isolated', invert: false } })).toBe(
      'bad-tokenizer',
    );
    expect(failure(byteLevelBpe(), 'not json')).toBe('bad-json');
    // The library would silently drop text it has no token for: a byte-level BPE missing a byte is refused.
    const noBang = byteLevelBpe();
    delete (noBang.model as { vocab: Record<string, number> }).vocab[BYTE[0x21]];
    expect(failure(noBang)).toBe('bad-tokenizer');
  });
});
