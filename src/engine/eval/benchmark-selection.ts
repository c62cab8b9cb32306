/**
 * Which benchmark items the Benchmarks step scores, as the experiment (and its share link, key `bench`) names them:
 * the shipped BLiMP subset (`blimp`), one BLiMP field or paradigm of it (`blimp.<name>`, the name with every run of
 * characters outside [A-Za-z0-9_] written '-': `blimp.syntax-semantics` for the field "syntax/semantics"), or an
 * uploaded task file known by the first 16 hex digits of its SHA-256 (`pasted:<hash>`, as pasted texts are).
 */
import { shortHash, sha256Hex } from '../experiment/model-hash.ts';
import { SETTINGS, type CalibrationText } from '../experiment/vocabulary.ts';

/** The id of the whole shipped subset: the row's default. */
export const SHIPPED_BLIMP = (SETTINGS.benchTasks.default as { id: string }).id;
/** The shipped subset (public/data/blimp/README.md), relative to the site root and to public/. */
export const SHIPPED_BLIMP_FILE = 'data/blimp/blimp-200.jsonl';

/** The id naming one field or paradigm of the shipped subset. */
export function blimpGroupId(name: string): string {
  return `${SHIPPED_BLIMP}.${name.replace(/[^A-Za-z0-9_]+/g, '-')}`;
}

/** One choice of the shipped subset: everything, a field, or a paradigm (UID). */
export interface BlimpChoice {
  id: string;
  level: 'all' | 'field' | 'paradigm';
  name: string;
  pairs: number;
}

interface BlimpLine {
  field: string;
  UID: string;
}

/** The choices the shipped subset's lines offer: all, then each field, then each paradigm, in file order. */
export function blimpChoices(lines: readonly string[]): BlimpChoice[] {
  const count = (level: 'field' | 'paradigm', key: (line: BlimpLine) => string) => {
    const pairs = new Map<string, number>();
    for (const line of lines) {
      const name = key(JSON.parse(line) as BlimpLine);
      pairs.set(name, (pairs.get(name) ?? 0) + 1);
    }
    return [...pairs].map(([name, n]): BlimpChoice => ({ id: blimpGroupId(name), level, name, pairs: n }));
  };
  return [{ id: SHIPPED_BLIMP, level: 'all', name: 'all fields', pairs: lines.length }, ...count('field', (l) => l.field), ...count('paradigm', (l) => l.UID)];
}

/**
 * The task file a selection of the shipped subset scores: its lines and a file name saying what was chosen
 * (`blimp-200.jsonl`, `blimp-morphology.jsonl`). RangeError when the id names no field or paradigm of these lines.
 */
export function selectBlimp(lines: readonly string[], id: string): { file: string; lines: string[] } {
  if (id === SHIPPED_BLIMP) return { file: SHIPPED_BLIMP_FILE.split('/').pop()!, lines: [...lines] };
  const chosen = lines.filter((line) => {
    const pair = JSON.parse(line) as BlimpLine;
    return blimpGroupId(pair.field) === id || blimpGroupId(pair.UID) === id;
  });
  if (!chosen.length) throw new RangeError(`bench=${id} names no field or paradigm of the shipped BLiMP subset (e.g. ${blimpGroupId('morphology')})`);
  return { file: `${id.replace('.', '-')}.jsonl`, lines: chosen };
}

/** The hash a selection names an uploaded task file by: the first 16 hex digits of the SHA-256 of its UTF-8 text. */
export async function taskFileHash(text: string): Promise<string> {
  return shortHash(await sha256Hex(new TextEncoder().encode(text)));
}

/**
 * The task file a selection scores, for the page and `moe-lab run` alike: the shipped subset's lines (`shipped`,
 * read once by the caller's means: fetch or the disk) filtered by selectBlimp, or the uploaded file the hash names
 * (`uploaded`: null when the caller does not have it; then an Error ending with `howToGive`).
 */
export async function selectionTaskFile(
  tasks: CalibrationText,
  shipped: () => Promise<readonly string[]>,
  uploaded: (hash: string) => { file: string; text: string } | null,
  howToGive: string,
): Promise<{ file: string; text: string }> {
  if (tasks.kind === 'pasted') {
    const input = uploaded(tasks.hash);
    if (!input) throw new Error(`The benchmark file is known only by its hash ${tasks.hash}: ${howToGive}.`);
    return input;
  }
  const { file, lines } = selectBlimp(await shipped(), tasks.id);
  return { file, text: lines.join('\n') };
}
