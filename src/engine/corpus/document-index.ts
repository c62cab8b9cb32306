/**
 * A text of several documents plus a JSON index of where each one lies, so the page can evaluate per document
 * or per genre without re-splitting: documents joined by one blank line, file ending in a newline, and each
 * index entry a byte range [start, end) into the UTF-8 file (bytes, not UTF-16 units, so any reader can slice).
 */
import { ModelFileError } from '../errors.ts';

export interface CorpusDocument {
  id: string;
  /** Genre label (Brown: as cats.txt writes it). */
  genre: string;
  /** Readable genre name. */
  genreName: string;
  /** The document's text: paragraphs on single lines, no blank lines inside. */
  text: string;
}

export interface DocumentIndexEntry {
  id: string;
  genre: string;
  genreName: string;
  /** Byte offset of the document's first byte in the UTF-8 file. */
  start: number;
  /** Byte offset one past its last byte (the separator is not included). */
  end: number;
}

export const DOCUMENT_SEPARATOR = '\n\n';

const utf8 = new TextEncoder();

/** Joins documents (in the order given) into one text and its byte-range index. */
export function joinDocuments(documents: readonly CorpusDocument[]): { text: string; index: DocumentIndexEntry[] } {
  const index: DocumentIndexEntry[] = [];
  let offset = 0;
  const separatorBytes = utf8.encode(DOCUMENT_SEPARATOR).length;
  documents.forEach((doc, i) => {
    if (doc.text.includes(DOCUMENT_SEPARATOR) || doc.text.startsWith('\n') || doc.text.endsWith('\n') || doc.text === '') {
      throw new Error(`document ${doc.id}: text must be non-empty with no blank line inside and no newline at either end`);
    }
    if (i > 0) offset += separatorBytes;
    const length = utf8.encode(doc.text).length;
    index.push({ id: doc.id, genre: doc.genre, genreName: doc.genreName, start: offset, end: offset + length });
    offset += length;
  });
  return { text: `${documents.map((d) => d.text).join(DOCUMENT_SEPARATOR)}\n`, index };
}

/**
 * Checks an index against its file's bytes — ranges in order, inside the file, separated by exactly one blank
 * line, covering it all but the separators and the final newline — and returns each document's text.
 */
export function sliceDocuments(bytes: Uint8Array, index: readonly DocumentIndexEntry[], file: string): string[] {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const separator = utf8.encode(DOCUMENT_SEPARATOR);
  const texts: string[] = [];
  let expectedStart = 0;
  index.forEach((entry, i) => {
    const where = `document ${i} (${entry.id})`;
    if (!Number.isInteger(entry.start) || !Number.isInteger(entry.end) || entry.start >= entry.end || entry.end > bytes.length) {
      throw new ModelFileError(file, 'bad-layout', `${where}: byte range [${entry.start}, ${entry.end}) is empty or outside the ${bytes.length}-byte file`);
    }
    if (entry.start !== expectedStart) {
      throw new ModelFileError(
        file,
        'bad-layout',
        `${where}: starts at byte ${entry.start}, expected ${expectedStart} (one blank line after the previous document)`,
      );
    }
    texts.push(decoder.decode(bytes.subarray(entry.start, entry.end)));
    const gap = bytes.subarray(entry.end, entry.end + separator.length);
    const last = i === index.length - 1;
    if (last ? !(bytes.length === entry.end + 1 && bytes[entry.end] === 0x0a) : !gap.every((b, k) => b === separator[k])) {
      throw new ModelFileError(
        file,
        'bad-layout',
        `${where}: not followed by ${last ? 'the final newline and end of file' : 'a blank line'} at byte ${entry.end}`,
      );
    }
    expectedStart = entry.end + separator.length;
  });
  if (index.length === 0) throw new ModelFileError(file, 'bad-layout', 'the index lists no documents');
  return texts;
}

/** Checks the shape of a parsed `.index.json` (the byte ranges are checked against the text by sliceDocuments). */
export function parseDocumentIndex(json: unknown, file: string): DocumentIndexEntry[] {
  if (!Array.isArray(json)) throw new ModelFileError(file, 'bad-json', 'expected a list of documents');
  return json.map((entry: Record<string, unknown>, i) => {
    const ok = ['id', 'genre', 'genreName'].every((k) => typeof entry?.[k] === 'string') && Number.isInteger(entry.start) && Number.isInteger(entry.end);
    if (!ok) throw new ModelFileError(file, 'bad-json', `document ${i}: expected {id, genre, genreName, start, end} (strings and integer byte offsets)`);
    return entry as unknown as DocumentIndexEntry;
  });
}
