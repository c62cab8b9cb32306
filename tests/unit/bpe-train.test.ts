import { readFileSync } from 'node:fs';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { BYTE_CHARS_IN_ID_ORDER, BYTE_TO_CHAR, fromByteLevel, preTokenize, toByteLevel } from '../../src/engine/tokenizer/bpe-byte-level.ts';
import { createBpeEncoder } from '../../src/engine/tokenizer/bpe-encode.ts';
import { byteLevelBpeFiles } from '../../src/engine/tokenizer/bpe-json.ts';
import { END_OF_TEXT, trainByteLevelBpe, type BpeModel } from '../../src/engine/tokenizer/bpe-train.ts';

const heldout = readFileSync('public/data/brown/heldout.txt', 'utf8');

/**
 * Version 1 of BPE training, obviously right and slow: recount every pair of every word before each merge, take
 * the largest count, ties to the smaller (left id, right id). The incremental trainer must agree merge for merge.
 */
function naiveMerges(text: string, vocabSize: number, minPairCount: number): [string, string][] {
  const vocab = [END_OF_TEXT, ...BYTE_CHARS_IN_ID_ORDER];
  const idOf = new Map(vocab.map((t, i) => [t, i]));
  const counts = new Map<string, number>();
  for (const piece of preTokenize(text)) counts.set(toByteLevel(piece), (counts.get(toByteLevel(piece)) ?? 0) + 1);
  let words = [...counts].map(([piece, count]) => ({ ids: [...piece].map((c) => idOf.get(c)!), count }));
  const merges: [string, string][] = [];
  while (vocab.length < vocabSize) {
    const pairs = new Map<string, { left: number; right: number; count: number }>();
    for (const { ids, count } of words) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const key = `${ids[i]},${ids[i + 1]}`;
        const entry = pairs.get(key) ?? { left: ids[i], right: ids[i + 1], count: 0 };
        entry.count += count;
        pairs.set(key, entry);
      }
    }
    const best = [...pairs.values()].sort((a, b) => b.count - a.count || a.left - b.left || a.right - b.right)[0];
    if (!best || best.count < minPairCount) break;
    const token = vocab[best.left] + vocab[best.right];
    if (!idOf.has(token)) {
      idOf.set(token, vocab.length);
      vocab.push(token);
    }
    merges.push([vocab[best.left], vocab[best.right]]);
    words = words.map(({ ids, count }) => {
      const next: number[] = [];
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] === best.left && ids[i + 1] === best.right) {
          next.push(idOf.get(token)!);
          i++;
        } else next.push(ids[i]);
      }
      return { ids: next, count };
    });
  }
  return merges;
}

const loadWithLibrary = (model: BpeModel): Tokenizer => {
  const files = byteLevelBpeFiles(model, { modelMaxLength: 1024 });
  return new Tokenizer(JSON.parse(files.tokenizerJson), JSON.parse(JSON.stringify(files.tokenizerConfig)));
};

describe('byte-level alphabet', () => {
  it('maps the 256 bytes to 256 distinct printable characters as GPT-2 does', () => {
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
    expect([BYTE_TO_CHAR[0x20], BYTE_TO_CHAR[0x0a], BYTE_TO_CHAR[0x09], BYTE_TO_CHAR[0x00], BYTE_TO_CHAR[0xad]]).toEqual(['Ġ', 'Ċ', 'ĉ', 'Ā', 'Ń']);
    expect([BYTE_TO_CHAR[0x41], BYTE_TO_CHAR[0xe9]]).toEqual(['A', 'é']);
    expect(BYTE_CHARS_IN_ID_ORDER.slice(0, 3)).toEqual(['!', '"', '#']);
    expect(BYTE_CHARS_IN_ID_ORDER[188]).toBe('Ā');
    expect(toByteLevel(' café')).toBe('ĠcafÃ©');
    expect(new TextDecoder().decode(fromByteLevel('ĠcafÃ©'))).toBe(' café');
    expect(() => fromByteLevel('a b')).toThrow(/' ' \(U\+0020\) is not a byte-level character/);
  });

  it('pre-tokenizes with the GPT-2 pattern into pieces that concatenate back to the text', () => {
    expect(preTokenize("He's  here,\n\nsaid 42 men.")).toEqual(['He', "'s", ' ', ' here', ',', '\n', '\n', 'said', ' 42', ' men', '.']);
    expect(preTokenize(heldout.slice(0, 20000)).join('')).toBe(heldout.slice(0, 20000));
  });
});

describe('BPE trainer', () => {
  it('learns the merges worked out by hand, and stops when pairs get rarer than minPairCount', () => {
    // Pieces: "ab", " ab" x2, " abc". (a,b) occurs 4 times, then ( ,ab) 3 times, then ( ab,c) once.
    const model = trainByteLevelBpe('ab ab ab abc', { vocabSize: 300 });
    expect(model.merges).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
    ]);
    expect(model.stoppedBy).toBe('min-pair-count');
    expect(model.vocab.length).toBe(1 + 256 + 2);
    expect(trainByteLevelBpe('ab ab ab abc', { vocabSize: 300, minPairCount: 1 }).merges).toEqual([
      ['a', 'b'],
      ['Ġ', 'ab'],
      ['Ġab', 'c'],
    ]);
  });

  it('breaks ties toward the pair with the smaller ids', () => {
    // Every pair occurs once; ids follow code points of the byte characters, and Ġ (U+0120) comes after letters.
    expect(trainByteLevelBpe('xy ab', { vocabSize: 300, minPairCount: 1 }).merges).toEqual([
      ['a', 'b'],
      ['x', 'y'],
      ['Ġ', 'ab'],
    ]);
  });

  it('agrees merge for merge with the recount-everything reference', () => {
    const text = heldout.slice(0, 30000);
    const model = trainByteLevelBpe(text, { vocabSize: 700, minPairCount: 1 });
    expect(model.merges.length).toBeGreaterThan(400);
    expect(model.merges).toEqual(naiveMerges(text, 700, 1));
  });

  it('fills the vocabulary exactly: special token 0, 256 bytes, distinct tokens, distinct merges', () => {
    const model = trainByteLevelBpe(heldout.slice(0, 200000), { vocabSize: 2048 });
    expect(model.vocab).toHaveLength(2048);
    expect(model.stoppedBy).toBe('vocab-size');
    expect(model.vocab[0]).toBe(END_OF_TEXT);
    expect(model.vocab.slice(1, 257)).toEqual(BYTE_CHARS_IN_ID_ORDER);
    expect(new Set(model.vocab).size).toBe(2048);
    expect(new Set(model.merges.map((m) => m.join(' '))).size).toBe(model.merges.length);
    for (const [left, right] of model.merges) expect(model.vocab).toContain(left + right);
  });

  it('never merges across or into the special token', () => {
    const model = trainByteLevelBpe(`${'the end'.repeat(3)}${END_OF_TEXT}`.repeat(50), { vocabSize: 400 });
    expect(model.merges.some(([l, r]) => (l + r).includes('|>') || (l + r).includes('<|'))).toBe(false);
    expect(model.words.some((w) => w.piece.includes('endoftext'))).toBe(false);
  });

  it('refuses a vocabulary too small for the special and byte tokens', () => {
    expect(() => trainByteLevelBpe('text', { vocabSize: 256 })).toThrow(/vocabulary size 256 must be an integer in 257..65536/);
    expect(() => trainByteLevelBpe('text', { vocabSize: 300, specialTokens: ['<s>', '<s>'] })).toThrow(/distinct/);
  });
});

describe('trained merges mean the same to the trainer, the reference encoder and @huggingface/tokenizers', () => {
  const text = heldout.slice(0, 150000);
  const model = trainByteLevelBpe(text, { vocabSize: 1024 });
  const encoder = createBpeEncoder(model);
  const library = loadWithLibrary(model);

  it("applying the merges by rank reproduces the trainer's final segmentation of every training word", () => {
    const mismatches = model.words.filter((w) => encoder.encodePiece(w.piece).join(' ') !== w.ids.map((id) => model.vocab[id]).join(' '));
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(model.words.length).toBeGreaterThan(3000);
  });

  it('the library encodes a sample of 400 training words into the tokens the merges imply', () => {
    // Every 7th distinct word (most frequent first), spelled back from bytes, encoded alone by the library.
    const sample = [...model.words]
      .sort((a, b) => b.count - a.count || (a.piece < b.piece ? -1 : 1))
      .filter((_, i) => i % 7 === 0)
      .slice(0, 400);
    expect(sample).toHaveLength(400);
    for (const word of sample) {
      const piece = new TextDecoder().decode(fromByteLevel(word.piece));
      expect(library.encode(piece, { add_special_tokens: false }).ids, JSON.stringify(piece)).toEqual(word.ids);
    }
  });

  it("the library encodes running text into the reference encoder's ids, and decodes it back", () => {
    const sample = `${heldout.slice(150000, 170000)}${END_OF_TEXT}${heldout.slice(300000, 310000)}`;
    const ids = library.encode(sample, { add_special_tokens: false }).ids;
    expect(ids).toEqual(encoder.encode(sample));
    expect(ids.filter((id) => id === 0)).toHaveLength(1);
    expect(library.decode(ids)).toBe(sample);
  });

  it('is deterministic: training twice writes the same tokenizer.json', () => {
    const again = trainByteLevelBpe(text, { vocabSize: 1024 });
    expect(byteLevelBpeFiles(again, { modelMaxLength: 1024 }).tokenizerJson).toBe(byteLevelBpeFiles(model, { modelMaxLength: 1024 }).tokenizerJson);
  });
});
