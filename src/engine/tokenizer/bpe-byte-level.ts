/**
 * GPT-2's byte-level view of text (Radford et al. 2019, §2.2; openai/gpt-2 `encoder.py`), shared by the BPE
 * trainer and the reference encoder so both see exactly what a tokenizer.json `ByteLevel` pre-tokenizer sees:
 * text -> pieces by the GPT-2 regex -> UTF-8 bytes -> one printable character per byte.
 */

/**
 * The GPT-2 split pattern, as the `ByteLevel` pre-tokenizer applies it with `use_regex: true` (the Rust crate's
 * pattern, and the one @huggingface/tokenizers compiles): contractions, letter runs, digit runs and other-symbol
 * runs each with one optional leading space, then whitespace (a run before a non-space keeps its last character
 * for the next piece, so " word" stays one piece).
 */
export const GPT2_SPLIT_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

const splitRegex = new RegExp(GPT2_SPLIT_PATTERN, 'gu');

/** Splits text into pre-tokens; their concatenation is the text (every character falls in one alternative). */
export function preTokenize(text: string): string[] {
  return text.match(splitRegex) ?? [];
}

/**
 * Byte -> character: the 188 printable bytes (! .. ~, ¡ .. ¬, ® .. ÿ) stand for themselves, the other 68
 * (controls, space, DEL, NBSP, soft hyphen) take U+0100.. in byte order, so space is `Ġ` and newline `Ċ`.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) chars.push(String.fromCharCode(printable(b) ? b : 256 + shifted++));
  return chars;
})();

export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/**
 * The 256 byte characters in code-point order: the order in which a Hugging Face trainer numbers its initial
 * alphabet, and the order of GPT-2's own first 256 ids.
 */
export const BYTE_CHARS_IN_ID_ORDER: readonly string[] = [...BYTE_TO_CHAR].sort((a, b) => a.charCodeAt(0) - b.charCodeAt(0));

const utf8 = new TextEncoder();

/** A pre-token in the byte-level alphabet (one character per UTF-8 byte). */
export function toByteLevel(piece: string): string {
  let out = '';
  for (const byte of utf8.encode(piece)) out += BYTE_TO_CHAR[byte];
  return out;
}

/** Byte-level characters back to bytes; throws on a character outside the alphabet. */
export function fromByteLevel(chars: string): Uint8Array {
  const bytes = new Uint8Array(chars.length);
  for (let i = 0; i < chars.length; i++) {
    const byte = CHAR_TO_BYTE.get(chars[i]);
    if (byte === undefined) throw new Error(`'${chars[i]}' (U+${chars.charCodeAt(i).toString(16).padStart(4, '0')}) is not a byte-level character`);
    bytes[i] = byte;
  }
  return bytes;
}

export interface TextSegment {
  text: string;
  /** True when `text` is one of the special tokens, which never go through the pre-tokenizer or BPE. */
  special: boolean;
}

/**
 * Cuts text at occurrences of special tokens, as tokenizer.json's added tokens are matched before anything else
 * (longest match first at each position).
 */
export function splitOnSpecialTokens(text: string, specialTokens: readonly string[]): TextSegment[] {
  const segments: TextSegment[] = [];
  const longestFirst = [...specialTokens].filter((t) => t !== '').sort((a, b) => b.length - a.length);
  let start = 0;
  let plainStart = 0;
  while (start < text.length) {
    let found = -1;
    let token = '';
    for (const candidate of longestFirst) {
      const at = text.indexOf(candidate, start);
      if (at >= 0 && (found < 0 || at < found)) {
        found = at;
        token = candidate;
      }
    }
    if (found < 0) break;
    if (found > plainStart) segments.push({ text: text.slice(plainStart, found), special: false });
    segments.push({ text: token, special: true });
    start = plainStart = found + token.length;
  }
  if (plainStart < text.length) segments.push({ text: text.slice(plainStart), special: false });
  return segments;
}
