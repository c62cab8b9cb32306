/**
 * Zero-shot task files (docs/evaluation.md), one JSON object per line:
 * - minimal pairs, BLiMP's own jsonl (Warstadt et al. 2020): `sentence_good`, `sentence_bad` and, optionally,
 *   `field`, `linguistics_term`, `UID` (the paradigm) and `pairID`;
 * - multiple choice: `{"context": "...", "choices": ["...", ...], "gold": i}`.
 * The first object decides the format; every line must then follow it. A bad file is a one-line ModelFileError that
 * names the file, the line (1-based) and what is wrong.
 */
import { ModelFileError, quoted } from '../errors.ts';

export type TaskFormat = 'minimal-pairs' | 'multiple-choice';

export interface MinimalPair {
  /** 1-based line in the file. */
  line: number;
  good: string;
  bad: string;
  /** BLiMP's grouping: field (syntax, morphology, ...), linguistics term, paradigm; '' when the file has none. */
  field: string;
  linguisticsTerm: string;
  uid: string;
  pairId: string;
}

export interface ChoiceItem {
  line: number;
  /** May be empty: the continuation is then conditioned on the context token alone (src/engine/eval/loglikelihood.ts). */
  context: string;
  /** The answers as lm-evaluation-harness's doc_to_choice gives them, without the delimiter that joins them to the context. */
  choices: string[];
  /** Index of the right answer in `choices`. */
  gold: number;
}

export type TaskFile =
  | { name: string; file: string; format: 'minimal-pairs'; items: MinimalPair[] }
  | { name: string; file: string; format: 'multiple-choice'; items: ChoiceItem[] };

/** The task's name: the file name without folders and extension. */
export function taskName(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.jsonl?$/i, '') || base;
}

function optionalText(file: string, line: number, row: Record<string, unknown>, key: string): string {
  const value = row[key];
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new ModelFileError(file, 'bad-json', `line ${line}: ${quoted(key)} must be a string; got ${oneValue(value)}`);
}

function oneValue(value: unknown): string {
  return (JSON.stringify(value) ?? String(value)).slice(0, 40);
}

function pairOf(file: string, line: number, row: Record<string, unknown>): MinimalPair {
  for (const key of ['sentence_good', 'sentence_bad']) {
    if (typeof row[key] !== 'string' || !(row[key] as string).trim()) {
      throw new ModelFileError(file, 'bad-json', `line ${line}: ${quoted(key)} must be a non-empty string; got ${oneValue(row[key])}`);
    }
  }
  return {
    line,
    good: row.sentence_good as string,
    bad: row.sentence_bad as string,
    field: optionalText(file, line, row, 'field'),
    linguisticsTerm: optionalText(file, line, row, 'linguistics_term'),
    uid: optionalText(file, line, row, 'UID'),
    pairId: optionalText(file, line, row, 'pairID') || String(line),
  };
}

function choiceItemOf(file: string, line: number, row: Record<string, unknown>): ChoiceItem {
  const { context, choices, gold } = row;
  if (typeof context !== 'string')
    throw new ModelFileError(file, 'bad-json', `line ${line}: 'context' must be a string (it may be empty); got ${oneValue(context)}`);
  if (!Array.isArray(choices) || choices.length < 2) {
    throw new ModelFileError(file, 'bad-json', `line ${line}: 'choices' must be an array of at least 2 strings; got ${oneValue(choices)}`);
  }
  choices.forEach((choice: unknown, i) => {
    // An empty choice has no bytes to normalize acc_norm by (and nothing to score).
    if (typeof choice !== 'string' || choice === '') {
      throw new ModelFileError(file, 'bad-json', `line ${line}: choice ${i} must be a non-empty string; got ${oneValue(choice)}`);
    }
  });
  if (typeof gold !== 'number' || !Number.isInteger(gold) || gold < 0 || gold >= choices.length) {
    throw new ModelFileError(
      file,
      'bad-json',
      `line ${line}: 'gold' must be an index into the ${choices.length} choices (0..${choices.length - 1}); got ${oneValue(gold)}`,
    );
  }
  return { line, context, choices: choices as string[], gold };
}

/** Parses a task file's text; `file` names it in errors and, without folders and extension, names the task. */
export function parseTaskFile(file: string, text: string): TaskFile {
  const pairs: MinimalPair[] = [];
  const choiceItems: ChoiceItem[] = [];
  let format: TaskFormat | null = null;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (!raw.trim()) return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch (error) {
      throw new ModelFileError(file, 'bad-json', `line ${line}: not valid JSON (${(error as Error).message})`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new ModelFileError(file, 'bad-json', `line ${line}: expected a JSON object`);
    const record = row as Record<string, unknown>;
    const own: TaskFormat | null = 'sentence_good' in record || 'sentence_bad' in record ? 'minimal-pairs' : 'choices' in record ? 'multiple-choice' : null;
    if (own === null) {
      throw new ModelFileError(
        file,
        'bad-json',
        `line ${line}: neither a minimal pair ('sentence_good', 'sentence_bad') nor a multiple-choice item ('context', 'choices', 'gold')`,
      );
    }
    format ??= own;
    if (own !== format) throw new ModelFileError(file, 'bad-json', `line ${line}: a ${own} item in a file of ${format} items`);
    if (format === 'minimal-pairs') pairs.push(pairOf(file, line, record));
    else choiceItems.push(choiceItemOf(file, line, record));
  });
  const name = taskName(file);
  if (format === null) throw new ModelFileError(file, 'bad-json', 'has no items (one JSON object per line expected)');
  return format === 'minimal-pairs' ? { name, file, format, items: pairs } : { name, file, format, items: choiceItems };
}

/**
 * At most `limit` items per task, as lm-evaluation-harness's --limit: a BLiMP file holds one task per paradigm
 * (`blimp_<UID>`), so its first `limit` pairs of every paradigm are kept; a multiple-choice file's first `limit` items.
 */
export function limitTask(task: TaskFile, limit: number | undefined): TaskFile {
  if (limit === undefined) return task;
  if (task.format === 'multiple-choice') return { ...task, items: task.items.slice(0, limit) };
  const seen = new Map<string, number>();
  const items = task.items.filter((pair) => {
    const n = seen.get(pair.uid) ?? 0;
    seen.set(pair.uid, n + 1);
    return n < limit;
  });
  return { ...task, items };
}
