/**
 * Task files (src/engine/eval/tasks.ts) and the harness's requests (src/engine/eval/loglikelihood.ts): both formats
 * parse, every bad line is a one-line error naming the file and the line; --limit per paradigm; the context token
 * rule (BOS, else EOS, else the first token unscored), trailing whitespace moving into the continuation, left
 * truncation; ties go to the first answer; acc_norm divides by UTF-8 bytes.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ModelFileError } from '../../src/engine/errors.ts';
import { argmaxFirst, chooseAnswer, contextTokenRule, encodeRequest, groupAccuracy } from '../../src/engine/eval/loglikelihood.ts';
import { limitTask, parseTaskFile, taskName } from '../../src/engine/eval/tasks.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';

const pair = (uid: string, id: number) =>
  JSON.stringify({
    sentence_good: `Good ${id}.`,
    sentence_bad: `Bad ${id}.`,
    field: 'syntax',
    linguistics_term: 'island_effects',
    UID: uid,
    pairID: String(id),
  });

function errorOf(text: string, file = 'tasks/x.jsonl'): string {
  try {
    parseTaskFile(file, text);
  } catch (error) {
    expect(error).toBeInstanceOf(ModelFileError);
    return (error as Error).message;
  }
  throw new Error('no error');
}

describe('task files', () => {
  it('parses BLiMP pairs and multiple-choice items, skipping blank lines; names the task by its file', () => {
    const pairs = parseTaskFile('data/blimp-200.jsonl', `${pair('a', 0)}\n\n${pair('a', 1)}\n`);
    expect(pairs.name).toBe('blimp-200');
    expect(pairs.format).toBe('minimal-pairs');
    expect(pairs.items).toEqual([
      { line: 1, good: 'Good 0.', bad: 'Bad 0.', field: 'syntax', linguisticsTerm: 'island_effects', uid: 'a', pairId: '0' },
      { line: 3, good: 'Good 1.', bad: 'Bad 1.', field: 'syntax', linguisticsTerm: 'island_effects', uid: 'a', pairId: '1' },
    ]);
    const bare = parseTaskFile('p.jsonl', '{"sentence_good": "A b.", "sentence_bad": "B a."}');
    expect(bare.items[0]).toMatchObject({ field: '', uid: '', pairId: '1' });
    const mc = parseTaskFile('C:\\tasks\\mc.jsonl', '{"context": "", "choices": ["a", "b"], "gold": 1}');
    expect(mc).toMatchObject({ name: 'mc', format: 'multiple-choice', items: [{ line: 1, context: '', choices: ['a', 'b'], gold: 1 }] });
    expect(taskName('x.json')).toBe('x');
  });

  it('the shipped BLiMP subset: 67 paradigms of 200 pairs', () => {
    const task = parseTaskFile('blimp-200.jsonl', readFileSync('public/data/blimp/blimp-200.jsonl', 'utf8'));
    expect(task.items.length).toBe(13400);
    if (task.format !== 'minimal-pairs') throw new Error('not minimal pairs');
    const paradigms = groupAccuracy(
      task.items,
      (p) => p.uid,
      () => true,
    );
    expect(paradigms.length).toBe(67);
    expect(paradigms.every((g) => g.items === 200)).toBe(true);
    expect(limitTask(task, 3).items.length).toBe(67 * 3);
  });

  it('a bad file: one line naming the file, the line and what is wrong', () => {
    expect(errorOf('')).toBe('tasks/x.jsonl: has no items (one JSON object per line expected)');
    expect(errorOf(`${pair('a', 0)}\n{oops`)).toMatch(/^tasks\/x\.jsonl: line 2: not valid JSON \(/);
    expect(errorOf('[1, 2]')).toBe('tasks/x.jsonl: line 1: expected a JSON object');
    expect(errorOf('{"text": "a"}')).toBe(
      "tasks/x.jsonl: line 1: neither a minimal pair ('sentence_good', 'sentence_bad') nor a multiple-choice item ('context', 'choices', 'gold')",
    );
    expect(errorOf('{"sentence_good": "a"}')).toBe("tasks/x.jsonl: line 1: 'sentence_bad' must be a non-empty string; got undefined");
    expect(errorOf('{"sentence_good": "a", "sentence_bad": "b", "UID": [1]}')).toBe("tasks/x.jsonl: line 1: 'UID' must be a string; got [1]");
    expect(errorOf(`${pair('a', 0)}\n{"context": "", "choices": ["a", "b"], "gold": 0}`)).toBe(
      'tasks/x.jsonl: line 2: a multiple-choice item in a file of minimal-pairs items',
    );
    expect(errorOf('{"choices": ["a", "b"], "gold": 0}')).toBe("tasks/x.jsonl: line 1: 'context' must be a string (it may be empty); got undefined");
    expect(errorOf('{"context": "", "choices": ["a"], "gold": 0}')).toBe(`tasks/x.jsonl: line 1: 'choices' must be an array of at least 2 strings; got ["a"]`);
    expect(errorOf('{"context": "", "choices": ["a", ""], "gold": 0}')).toBe('tasks/x.jsonl: line 1: choice 1 must be a non-empty string; got ""');
    expect(errorOf('{"context": "", "choices": ["a", "b"], "gold": 1.5}')).toBe(
      "tasks/x.jsonl: line 1: 'gold' must be an index into the 2 choices (0..1); got 1.5",
    );
    // A hostile line cannot break the message over several lines.
    expect(errorOf('{"context": "", "choices": ["a", "b"], "gold": "\\n"}').split('\n')).toHaveLength(1);
  });

  it('--limit: the first N pairs of every paradigm; of a multiple-choice file its first N items', () => {
    const task = parseTaskFile('b.jsonl', [pair('a', 0), pair('a', 1), pair('b', 2), pair('a', 3), pair('b', 4), pair('b', 5)].join('\n'));
    expect(limitTask(task, 2).items.map((p) => (p as { pairId: string }).pairId)).toEqual(['0', '1', '2', '4']);
    expect(limitTask(task, undefined)).toBe(task);
    const mc = parseTaskFile(
      'm.jsonl',
      ['{"context": "a", "choices": ["x", "y"], "gold": 0}', '{"context": "b", "choices": ["x", "y"], "gold": 1}'].join('\n'),
    );
    expect(limitTask(mc, 1).items).toHaveLength(1);
  });
});

describe('requests as lm-evaluation-harness builds them', () => {
  const json = JSON.parse(readFileSync('tests/fixtures/lab-tiny/tokenizer.json', 'utf8'));
  const config = JSON.parse(readFileSync('tests/fixtures/lab-tiny/tokenizer_config.json', 'utf8'));
  const withBos = loadTokenizer(json, config);
  const eosOnly = loadTokenizer(json, { ...config, bos_token: null });
  const neither = loadTokenizer(json, { ...config, bos_token: null, eos_token: null });
  const encode = (text: string) => withBos.encode(text, { addSpecialTokens: false });

  it('an empty context: BOS, else EOS, else the first token of the continuation, which is then not scored', () => {
    expect(contextTokenRule(withBos)).toEqual({ rule: 'bos', id: 0 });
    expect(contextTokenRule(eosOnly)).toEqual({ rule: 'eos', id: 0 });
    expect(contextTokenRule(neither)).toEqual({ rule: 'first-token', id: null });
    const ids = encode(' The cat sat.');
    expect(encodeRequest(withBos, '', ' The cat sat.', 512)).toEqual({ ids: [0, ...ids], scoredFrom: 1 });
    expect(encodeRequest(eosOnly, '', ' The cat sat.', 512)).toEqual({ ids: [0, ...ids], scoredFrom: 1 });
    expect(encodeRequest(neither, '', ' The cat sat.', 512)).toEqual({ ids, scoredFrom: 1 });
    expect(() => encodeRequest(neither, '', ' ', 512)).toThrow(/gives no token to score/);
  });

  it('a context: its ids, then the rest of the whole text; trailing whitespace moves into the continuation', () => {
    const context = encode('The cat sat on the');
    expect(encodeRequest(withBos, 'The cat sat on the', ' mat', 512)).toEqual({
      ids: [...context, ...encode('The cat sat on the mat').slice(context.length)],
      scoredFrom: context.length,
    });
    // "is " + " two": the context is encoded without its space, the continuation is "  two".
    const stripped = encode('one plus one is');
    const request = encodeRequest(withBos, 'one plus one is ', ' two', 512);
    expect(request).toEqual({ ids: [...stripped, ...encode('one plus one is  two').slice(stripped.length)], scoredFrom: stripped.length });
    // Whitespace only: an empty context, whose space joins the continuation.
    expect(encodeRequest(withBos, ' ', 'x', 512)).toEqual({ ids: [0, ...encode(' x')], scoredFrom: 1 });
  });

  it('too long: the context is cut on the left; a continuation that leaves no context is refused', () => {
    const full = encodeRequest(withBos, 'The cat sat on the', ' mat and the dog', 512);
    const cut = encodeRequest(withBos, 'The cat sat on the', ' mat and the dog', full.ids.length - 2);
    expect(cut).toEqual({ ids: full.ids.slice(2), scoredFrom: full.scoredFrom - 2 });
    expect(() => encodeRequest(withBos, 'a', ' mat and the dog', full.ids.length - full.scoredFrom)).toThrow(/leaves none for the context/);
  });

  it('ties go to the first answer (numpy argmax); acc_norm divides by UTF-8 bytes of the answer', () => {
    expect(argmaxFirst([-3, -1, -1])).toBe(1);
    expect(argmaxFirst([NaN, -5])).toBe(1);
    // A BLiMP pair whose sentences are equally likely counts as correct (the good sentence is answer 0).
    expect(chooseAnswer([-7, -7], ['a', 'b']).predicted).toBe(0);
    // -6 / 3 bytes = -2 beats -5 / 2 bytes = -2.5; "é" is 2 bytes, so "ée" (3 bytes) against "ab" (2).
    expect(chooseAnswer([-6, -5], ['\u00e9e', 'ab'])).toEqual({ predicted: 1, predictedNorm: 0 });
  });
});
