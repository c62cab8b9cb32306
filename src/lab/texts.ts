/**
 * The texts the lab reads, inside the worker: the page's texts (public/data/index.json, fetched once; genres cut
 * out of the text by its document index) and texts the user pasted or uploaded (kept in memory by their hash,
 * never sent anywhere). Tokenized streams are cached per tokenizer, so calibration, inspection and evaluation of
 * the same text tokenize it once.
 */
import { EngineError } from '../api/errors.ts';
import type { AddedText, TextInfo } from '../api/lab.ts';
import { DOCUMENT_SEPARATOR, parseDocumentIndex, sliceDocuments, type DocumentIndexEntry } from '../engine/corpus/document-index.ts';
import { parseEvaluationTexts, type EvaluationText } from '../engine/corpus/evaluation-texts.ts';
import { ModelFileError } from '../engine/errors.ts';
import { sha256Hex, shortHash } from '../engine/experiment/model-hash.ts';
import { textKey, type TextRef } from '../engine/experiment/text-ref.ts';
import type { Fetch } from '../engine/io/byte-source.ts';
import type { TextTokenizer } from '../engine/tokenizer.ts';

const INDEX_FILE = 'data/index.json';
/** A pasted or uploaded text is refused above this (the page's own texts are 0.5-1.3 MB). */
export const MAX_ADDED_TEXT_BYTES = 32 << 20;

/** A text cut into named parts: the genres of a text with a document index, else the whole text as one part. */
export interface TextPart {
  id: string;
  name: string;
  text: string;
  /** Documents in the part (genres of an indexed text). */
  documents?: number;
}

interface LoadedText {
  entry: EvaluationText;
  text: string;
  /** Genres in index order, each its documents joined as in the file. */
  genres: TextPart[];
}

export class TextLibrary {
  private index: Promise<EvaluationText[]> | null = null;
  private readonly loaded = new Map<string, Promise<LoadedText>>();
  private readonly indexes = new Map<string, Promise<DocumentIndexEntry[]>>();
  private readonly added = new Map<string, string>();
  /** Token streams per tokenizer and text key. */
  private readonly streams = new WeakMap<TextTokenizer, Map<string, number[]>>();

  constructor(
    private readonly assetBase: string,
    private readonly fetchImpl: Fetch,
  ) {}

  /** The page's texts with their genres. */
  async catalog(): Promise<TextInfo[]> {
    const entries = await this.entries();
    return Promise.all(
      entries.map(async (entry) => {
        // Genres and their document counts come from the small document index; the text is read when used.
        const documents = entry.index ? await this.documents(entry) : [];
        const order = entry.genres?.map((g) => g.id) ?? [...new Set(documents.map((d) => d.genre))];
        const genres = order
          .map((id) => ({
            id,
            name: entry.genres?.find((g) => g.id === id)?.name ?? documents.find((d) => d.genre === id)?.genreName ?? id,
            documents: documents.filter((d) => d.genre === id).length,
          }))
          .filter((g) => g.documents > 0);
        return { id: entry.id, name: entry.name, bytes: entry.bytes, genres };
      }),
    );
  }

  /** Keeps a pasted or uploaded text; returns the hash links name it by. */
  async add(text: string): Promise<AddedText> {
    const bytes = new TextEncoder().encode(text);
    if (bytes.length === 0) throw new EngineError({ kind: 'bad-request', message: 'The text is empty.' });
    if (bytes.length > MAX_ADDED_TEXT_BYTES) {
      throw new EngineError({ kind: 'bad-request', message: `The text is ${bytes.length} bytes; at most ${MAX_ADDED_TEXT_BYTES} are accepted.` });
    }
    const hash = shortHash(await sha256Hex(bytes));
    this.added.set(hash, text);
    return { hash, bytes: bytes.length };
  }

  /** The text a reference names, whole (a genre: its documents joined as in the file). */
  async text(ref: TextRef): Promise<string> {
    if (ref.kind === 'pasted') return this.addedText(ref.hash);
    const loaded = await this.load(ref.id);
    if (!ref.genre) return loaded.text;
    const genre = loaded.genres.find((g) => g.id === ref.genre);
    if (!genre) {
      const known = loaded.genres.map((g) => g.id).join(', ') || 'none';
      throw new EngineError({ kind: 'bad-request', message: `${loaded.entry.name} has no genre "${ref.genre}" (genres: ${known}).` });
    }
    return genre.text;
  }

  /** The genres of a page text, or each page text whole when `ref` has no genres (a pasted text: itself). */
  async parts(ref: TextRef): Promise<TextPart[]> {
    if (ref.kind === 'pasted') return [{ id: `pasted:${ref.hash}`, name: 'pasted text', text: this.addedText(ref.hash) }];
    const loaded = await this.load(ref.id);
    if (loaded.genres.length) return loaded.genres;
    const entries = await this.entries();
    return Promise.all(entries.map(async (e) => ({ id: e.id, name: e.name, text: (await this.load(e.id)).text })));
  }

  /** The genres of a page text ([] for texts without a document index and for pasted texts). */
  async genres(ref: TextRef): Promise<TextPart[]> {
    return ref.kind === 'corpus' ? (await this.load(ref.id)).genres : [];
  }

  /**
   * The whole text tokenized once (cached per tokenizer). `special`: add the tokenizer's special tokens as
   * `tokenizer(text)` does (evaluation, as `moe-lab ppl --text`); calibration samples a stream without them.
   */
  async stream(tokenizer: TextTokenizer, ref: TextRef, special: boolean): Promise<number[]> {
    let cache = this.streams.get(tokenizer);
    if (!cache) {
      cache = new Map();
      this.streams.set(tokenizer, cache);
    }
    const key = `${special ? 's' : 'p'}:${textKey(ref)}`;
    let ids = cache.get(key);
    if (!ids) {
      ids = tokenizer.encode(await this.text(ref), { addSpecialTokens: special });
      cache.set(key, ids);
    }
    return ids;
  }

  /**
   * The first `count` tokens of a text (or all of it when shorter), tokenizing only a prefix of a long text: a cut
   * inside the text changes at most its last pre-token's tokens, so 64 tokens beyond `count` are kept as margin.
   */
  async firstTokens(tokenizer: TextTokenizer, ref: TextRef, count: number, special: boolean): Promise<number[]> {
    const cached = this.streams.get(tokenizer)?.get(`${special ? 's' : 'p'}:${textKey(ref)}`);
    if (cached) return cached.slice(0, count);
    return firstTokensOf(tokenizer, await this.text(ref), count, special);
  }

  private addedText(hash: string): string {
    const text = this.added.get(hash);
    if (text === undefined) {
      throw new EngineError({
        kind: 'bad-request',
        message: `The pasted text ${hash} is not here: paste or upload the same text again (links carry only its hash).`,
      });
    }
    return text;
  }

  private entries(): Promise<EvaluationText[]> {
    this.index ??= this.fetchText(INDEX_FILE).then((text) => {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new ModelFileError(INDEX_FILE, 'bad-json', `not valid JSON (${(error as Error).message})`);
      }
      return parseEvaluationTexts(json, INDEX_FILE);
    });
    this.index.catch(() => (this.index = null));
    return this.index;
  }

  private load(id: string): Promise<LoadedText> {
    let loaded = this.loaded.get(id);
    if (!loaded) {
      loaded = this.read(id);
      this.loaded.set(id, loaded);
      loaded.catch(() => this.loaded.delete(id));
    }
    return loaded;
  }

  private async read(id: string): Promise<LoadedText> {
    const entries = await this.entries();
    const entry = entries.find((e) => e.id === id);
    if (!entry) throw new EngineError({ kind: 'bad-request', message: `There is no text "${id}" (texts: ${entries.map((e) => e.id).join(', ')}).` });
    const bytes = await this.fetchBytes(entry.path);
    const text = new TextDecoder().decode(bytes);
    if (!entry.index) return { entry, text, genres: [] };
    const documents = await this.documents(entry);
    const texts = sliceDocuments(bytes, documents, entry.path);
    const order = entry.genres?.map((g) => g.id) ?? [...new Set(documents.map((d) => d.genre))];
    const genres = order.map((genre) => {
      const members = documents.flatMap((d, i) => (d.genre === genre ? [texts[i]] : []));
      const name = entry.genres?.find((g) => g.id === genre)?.name ?? documents.find((d) => d.genre === genre)?.genreName ?? genre;
      return { id: genre, name, text: members.join(DOCUMENT_SEPARATOR), documents: members.length };
    });
    return { entry, text, genres: genres.filter((g) => g.text.length > 0) };
  }

  /** A text's document index (cached). */
  private documents(entry: EvaluationText): Promise<DocumentIndexEntry[]> {
    let documents = this.indexes.get(entry.id);
    if (!documents) {
      documents = this.fetchText(entry.index!).then((text) => parseDocumentIndex(JSON.parse(text), entry.index!));
      this.indexes.set(entry.id, documents);
      documents.catch(() => this.indexes.delete(entry.id));
    }
    return documents;
  }

  private async fetchBytes(path: string): Promise<Uint8Array> {
    const response = await this.fetchImpl(new URL(path, this.assetBase).href);
    if (!response.ok) throw new ModelFileError(path, 'missing-file', `HTTP ${response.status}: the page's text is missing`);
    return new Uint8Array(await response.arrayBuffer());
  }

  private async fetchText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.fetchBytes(path));
  }
}

/** The first `count` tokens of `text`, encoding a growing prefix (see TextLibrary.firstTokens). */
export function firstTokensOf(tokenizer: TextTokenizer, text: string, count: number, special: boolean): number[] {
  const MARGIN = 64;
  for (let chars = Math.max(256, (count + MARGIN) * 8); ; chars *= 2) {
    const whole = chars >= text.length;
    const ids = tokenizer.encode(whole ? text : text.slice(0, chars), { addSpecialTokens: special });
    if (whole || ids.length >= count + MARGIN) return ids.slice(0, count);
  }
}
