/**
 * The Brown Corpus (Francis & Kučera 1964/1979) as the default model's corpus: its 15 genres, its document ids
 * (`ca01` .. `cr09`: "c" for corpus form C, a genre letter, a two-digit number) and the split rule of docs/corpus.md.
 */
import { ModelFileError } from '../errors.ts';

export type BrownSplit = 'train' | 'valid' | 'test';

export interface BrownGenre {
  /** Genre letter in the document id (`a` in `ca01`). */
  letter: string;
  /** Label as cats.txt writes it (`news`). */
  label: string;
  /** Name as the corpus manual (CONTENTS) writes it. */
  name: string;
}

/** The 15 genres in the manual's order (A..R without I, O, Q), with the labels of cats.txt. */
export const BROWN_GENRES: readonly BrownGenre[] = [
  { letter: 'a', label: 'news', name: 'Press: reportage' },
  { letter: 'b', label: 'editorial', name: 'Press: editorial' },
  { letter: 'c', label: 'reviews', name: 'Press: reviews' },
  { letter: 'd', label: 'religion', name: 'Religion' },
  { letter: 'e', label: 'hobbies', name: 'Skill and hobbies' },
  { letter: 'f', label: 'lore', name: 'Popular lore' },
  { letter: 'g', label: 'belles_lettres', name: 'Belles-lettres' },
  { letter: 'h', label: 'government', name: 'Miscellaneous: government & house organs' },
  { letter: 'j', label: 'learned', name: 'Learned' },
  { letter: 'k', label: 'fiction', name: 'Fiction: general' },
  { letter: 'l', label: 'mystery', name: 'Fiction: mystery' },
  { letter: 'm', label: 'science_fiction', name: 'Fiction: science' },
  { letter: 'n', label: 'adventure', name: 'Fiction: adventure' },
  { letter: 'p', label: 'romance', name: 'Fiction: romance' },
  { letter: 'r', label: 'humor', name: 'Humor' },
];

const DOCUMENT_ID = /^c([a-r])(\d\d)$/;

/** Genre of a document id, from its letter; throws on an id that is not of the form `c<letter><2 digits>`. */
export function brownGenreOf(id: string): BrownGenre {
  const match = DOCUMENT_ID.exec(id);
  const genre = match ? BROWN_GENRES.find((g) => g.letter === match[1]) : undefined;
  if (!genre) throw new Error(`'${id}' is not a Brown Corpus document id (expected c<genre letter><two digits>, e.g. ca01)`);
  return genre;
}

/**
 * Split of a document (docs/corpus.md): two-digit number a multiple of 10 -> test (the shipped held-out text),
 * ending in 5 -> validation (early stopping), anything else -> train. Interleaving by number spreads every split
 * over the whole of each genre, since the documents of a genre are numbered in the manual's order of sources.
 */
export function brownSplitOf(id: string): BrownSplit {
  brownGenreOf(id);
  const lastDigit = Number(id.slice(-1));
  if (lastDigit === 0) return 'test';
  if (lastDigit === 5) return 'valid';
  return 'train';
}

export interface BrownCategory {
  id: string;
  genre: BrownGenre;
}

/**
 * Parses cats.txt (`ca01 news` per line) and checks each label against the genre its id's letter names, so a
 * corpus package that relabels or reorders genres fails here rather than mislabelling documents silently.
 */
export function parseBrownCategories(catsText: string, file = 'cats.txt'): BrownCategory[] {
  const categories: BrownCategory[] = [];
  const seen = new Set<string>();
  catsText.split('\n').forEach((rawLine, lineIndex) => {
    const line = rawLine.trim();
    if (line === '') return;
    const fields = line.split(/\s+/);
    const where = `${file} line ${lineIndex + 1}`;
    if (fields.length !== 2) throw new ModelFileError(file, 'bad-layout', `${where}: expected '<id> <genre>', got '${line}'`);
    const [id, label] = fields;
    let genre: BrownGenre;
    try {
      genre = brownGenreOf(id);
    } catch (error) {
      throw new ModelFileError(file, 'bad-layout', `${where}: ${(error as Error).message}`);
    }
    if (genre.label !== label) {
      throw new ModelFileError(file, 'bad-layout', `${where}: ${id} is labelled '${label}' but its letter means '${genre.label}'`);
    }
    if (seen.has(id)) throw new ModelFileError(file, 'bad-layout', `${where}: ${id} is listed twice`);
    seen.add(id);
    categories.push({ id, genre });
  });
  return categories;
}
