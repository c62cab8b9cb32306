/**
 * `moe-lab eval --per-item --json` on tests/fixtures/lab-tiny: every answer's log-likelihood equals the f64 sum of
 * log-softmax over the logits `moe-lab logits` writes for the same ids, at the scored positions (to 1e-4), dense and
 * under a masks file; the ids are the tokenizer's encoding as lm-evaluation-harness builds them (the BOS token
 * before an answer without context, " " + the answer, a context's trailing space moved into the continuation);
 * the verdicts follow from the log-likelihoods (ties to the first answer); BLiMP groups add up.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli as run } from '../helpers/cli.ts';
import { FileByteSource } from '../../src/cli/fs-folder.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const LAB_TINY = resolve('tests/fixtures/lab-tiny');
const dir = scratchDir('moe-lab-eval-');

async function ok(argv: string[]): Promise<string> {
  const r = await run(argv);
  expect(r.err, argv.join(' ')).toEqual([]);
  expect(r.code).toBe(0);
  return r.out.join('\n');
}

/** Log-likelihood of ids[scoredFrom..] from `moe-lab logits`: sum of log-softmax(logits[t - 1])[ids[t]] in f64. */
async function referenceLogLikelihood(ids: number[], scoredFrom: number, name: string, masks?: string): Promise<number> {
  const idsFile = join(dir, `${name}.json`);
  const out = join(dir, `${name}.safetensors`);
  writeFileSync(idsFile, JSON.stringify(ids));
  await ok(['logits', '--model', LAB_TINY, '--ids', idsFile, '--out', out, ...(masks ? ['--masks', masks] : [])]);
  const source = new FileByteSource(out);
  const info = (await readSafetensorsHeader(source)).tensors.get('logits')!;
  const logits = bytesToFloat32(info, await readTensorBytes(source, info));
  const V = info.shape[1];
  let sum = 0;
  for (let t = scoredFrom; t < ids.length; t++) {
    const row = logits.subarray((t - 1) * V, t * V);
    let max = -Infinity;
    for (const z of row) max = Math.max(max, z);
    let s = 0;
    for (const z of row) s += Math.exp(z - max);
    sum += row[ids[t]] - max - Math.log(s);
  }
  return sum;
}

interface Item {
  line: number;
  ids: number[][];
  scored: number[];
  logLikelihoods: number[];
  correct: boolean;
  correctNorm?: boolean;
}
interface Task {
  name: string;
  format: string;
  accuracy: number;
  items: number;
  accNorm: number | null;
  fields: { name: string; items: number; correct: number }[];
  terms: { name: string; items: number }[];
  perItem: Item[];
}

const tokenizer = loadTokenizer(
  JSON.parse(readFileSync(join(LAB_TINY, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(LAB_TINY, 'tokenizer_config.json'), 'utf8')),
);
const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });

// One pair each of three paradigms of the shipped subset (two fields).
const blimpLines = readFileSync('public/data/blimp/blimp-200.jsonl', 'utf8').split('\n');
const blimp = [0, 200, 6000].map((i) => blimpLines[i]);
const choiceItems = [
  { context: 'The cat sat on the', choices: ['mat', 'moon', 'dog'], gold: 0 },
  { context: '', choices: ['Hello world.', 'world Hello.'], gold: 1 },
  { context: 'Question: one plus one is ', choices: ['two', 'three'], gold: 0 },
  { context: 'Caf\u00e9 au', choices: ['lait', 'na\u00efve'], gold: 1 },
];
const blimpFile = join(dir, 'blimp-three.jsonl');
const choicesFile = join(dir, 'choices.jsonl');
writeFileSync(blimpFile, blimp.join('\n') + '\n');
writeFileSync(choicesFile, choiceItems.map((x) => JSON.stringify(x)).join('\n'));

/** The harness's request for (context, " " + answer): expected ids and where scoring starts. */
function expectedRequest(context: string, answer: string): { ids: number[]; scoredFrom: number } {
  const continuation = ' ' + answer;
  const kept = context.trimEnd();
  if (!kept) return { ids: [tokenizer.bosTokenId!, ...encode(context + continuation)], scoredFrom: 1 };
  const contextIds = encode(kept);
  return { ids: [...contextIds, ...encode(context + continuation).slice(contextIds.length)], scoredFrom: contextIds.length };
}

async function checkTasks(tasks: Task[], masks?: string): Promise<void> {
  const [pairs, choices] = tasks;
  expect(pairs).toMatchObject({ name: 'blimp-three', format: 'minimal-pairs', items: 3, accNorm: null });
  expect(choices).toMatchObject({ name: 'choices', format: 'multiple-choice', items: 4 });
  const answers = [
    ...pairs.perItem.map((item, i) => ({ item, context: '', texts: [JSON.parse(blimp[i]).sentence_good, JSON.parse(blimp[i]).sentence_bad], gold: 0 })),
    ...choices.perItem.map((item, i) => ({ item, ...choiceItems[i], texts: choiceItems[i].choices })),
  ];
  for (const [n, { item, context, texts, gold }] of answers.entries()) {
    for (const [a, text] of texts.entries()) {
      const expected = expectedRequest(context, text);
      expect(item.ids[a], `item ${n} answer ${a}`).toEqual(expected.ids);
      expect(item.scored[a]).toBe(expected.ids.length - expected.scoredFrom);
      const reference = await referenceLogLikelihood(expected.ids, expected.scoredFrom, `${masks ? 'm' : 'd'}-${n}-${a}`, masks);
      expect(Math.abs(item.logLikelihoods[a] - reference), `item ${n} answer ${a}: ${item.logLikelihoods[a]} vs ${reference}`).toBeLessThanOrEqual(1e-4);
    }
    // acc: the first answer with the highest log-likelihood is the gold one.
    const best = item.logLikelihoods.indexOf(Math.max(...item.logLikelihoods));
    expect(item.correct).toBe(best === gold);
    if (item.correctNorm !== undefined) {
      const normed = item.logLikelihoods.map((ll, i) => ll / new TextEncoder().encode(texts[i]).length);
      expect(item.correctNorm).toBe(normed.indexOf(Math.max(...normed)) === gold);
    }
  }
  expect(pairs.accuracy).toBeCloseTo(pairs.perItem.filter((i) => i.correct).length / 3, 12);
  expect(pairs.fields.map((f) => f.name)).toEqual(['syntax', 'morphology']);
  expect(pairs.fields.reduce((n, f) => n + f.items, 0)).toBe(3);
  expect(pairs.terms.reduce((n, f) => n + f.items, 0)).toBe(3);
}

describe('moe-lab eval', () => {
  it('dense and masked: per-answer log-likelihoods equal log-softmax sums over moe-lab logits, ids as the harness encodes them', async () => {
    const report = JSON.parse(await ok(['eval', '--model', LAB_TINY, '--tasks', `${blimpFile},${choicesFile}`, '--per-item', '--json'])) as {
      accuracy: number;
      items: number;
      contextToken: { rule: string; id: number };
      tasks: Task[];
    };
    expect(report.contextToken).toEqual({ rule: 'bos', id: 0 });
    expect(report.items).toBe(7);
    await checkTasks(report.tasks);
    const correct = report.tasks.flatMap((t) => t.perItem).filter((i) => i.correct).length;
    expect(report.accuracy).toBeCloseTo(correct / 7, 12);

    const pruned = join(dir, 'pruned');
    await ok(['prune', '--model', LAB_TINY, '--method', 'magnitude', '--sparsity', '0.5', '--out', pruned, '--masks-only']);
    const masks = join(pruned, 'masks.safetensors');
    const masked = JSON.parse(await ok(['eval', '--model', LAB_TINY, '--tasks', `${blimpFile},${choicesFile}`, '--masks', masks, '--per-item', '--json']));
    await checkTasks(masked.tasks, masks);
    expect(masked.tasks[1].perItem[0].logLikelihoods).not.toEqual(report.tasks[1].perItem[0].logLikelihoods);
  }, 240_000);

  it('--limit keeps the first N pairs of every paradigm; a bad line is a one-line error naming file and line', async () => {
    const limited = JSON.parse(await ok(['eval', '--model', LAB_TINY, '--tasks', blimpFile, '--limit', '1', '--json']));
    expect(limited.tasks[0].items).toBe(3);
    expect(limited.tasks[0].paradigms.map((p: { items: number }) => p.items)).toEqual([1, 1, 1]);
    expect(limited.tasks[0].perItem).toBeUndefined();

    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, `${JSON.stringify(choiceItems[0])}\n{"context": "x", "choices": ["a", "b"], "gold": 2}\n`);
    const r = await run(['eval', '--model', LAB_TINY, '--tasks', bad, '--json']);
    expect(r.code).toBe(1);
    expect(r.err).toEqual([`moe-lab: ${bad}: line 2: 'gold' must be an index into the 2 choices (0..1); got 2`]);
    const usage = await run(['eval', '--model', LAB_TINY, '--tasks', bad, '--limit', '0']);
    expect(usage.code).toBe(2);
  }, 120_000);
});
