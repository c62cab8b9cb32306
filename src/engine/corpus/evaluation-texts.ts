/**
 * public/data/index.json: the evaluation texts the page offers, written by `npm run corpus`. Paths are relative
 * to public/ (the page fetches them relative to its own URL).
 */
import { ModelFileError } from '../errors.ts';

export interface EvaluationText {
  id: string;
  /** What the page shows, caveats included (e.g. WikiText-2's tokenized release). */
  name: string;
  /** The UTF-8 text. */
  path: string;
  bytes: number;
  /** Genres present, when the text is made of labelled documents. */
  genres?: { id: string; name: string }[];
  /** Its document index (document-index.ts), when it has one. */
  index?: string;
  /** Source and license notes. */
  notes: string;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';

/** Checks the shape of a parsed index.json; errors name the file and the entry. */
export function parseEvaluationTexts(json: unknown, file = 'data/index.json'): EvaluationText[] {
  if (!Array.isArray(json)) throw new ModelFileError(file, 'bad-json', 'expected a list of evaluation texts');
  return json.map((entry: Record<string, unknown>, i) => {
    const where = `entry ${i}${isString(entry?.id) ? ` (${entry.id})` : ''}`;
    for (const key of ['id', 'name', 'path', 'notes'] as const) {
      if (!isString(entry?.[key])) throw new ModelFileError(file, 'bad-json', `${where}: "${key}" must be a non-empty string`);
    }
    if (!Number.isInteger(entry.bytes) || (entry.bytes as number) <= 0)
      throw new ModelFileError(file, 'bad-json', `${where}: "bytes" must be a positive integer`);
    if (entry.index !== undefined && !isString(entry.index)) throw new ModelFileError(file, 'bad-json', `${where}: "index" must be a path`);
    const genres = entry.genres;
    if (genres !== undefined && !(Array.isArray(genres) && genres.every((g) => isString(g?.id) && isString(g?.name)))) {
      throw new ModelFileError(file, 'bad-json', `${where}: "genres" must be a list of {id, name}`);
    }
    return entry as unknown as EvaluationText;
  });
}
