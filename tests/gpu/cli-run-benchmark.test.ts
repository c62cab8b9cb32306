/**
 * `moe-lab run --experiment LINK` with a Benchmarks selection in the link (bench=blimp.morphology&benchlimit=1: one
 * pair of each of the field's 18 paradigms) scores the same items on the dense and the pruned model as `moe-lab eval`
 * does on the same task file, dense and under the masks the replay wrote: the same accuracies, per field, term and
 * paradigm, and the flipped count equals the items whose verdict differs. A link to an uploaded task file needs it
 * (--tasks FILE, its hash checked); all refusals come before the model loads, in one line each.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { siteFolder } from '../../src/cli/node-lab.ts';
import { selectBlimp, SHIPPED_BLIMP_FILE, taskFileHash } from '../../src/engine/eval/benchmark-selection.ts';
import { runCli as run } from '../helpers/cli.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const work = scratchDir('moe-lab-cli-run-benchmark-');
const SITE = siteFolder();
const MODEL_DIR = join(SITE, 'models/brown-moe-3m');
/** A small experiment (8 x 32 calibration tokens, 130 evaluation tokens) with the Benchmarks selection. */
const SETTINGS =
  'v=1&model=embedded:brown-moe-3m&hash=7ecca273f019400a&text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown&ctx=64&evaltokens=130';

type Verdicts = { perItem: { correct: boolean }[] }[];

describe('moe-lab run --experiment with a benchmark selection', () => {
  it('reports the accuracies moe-lab eval gives on the same items, dense and under the same masks', async () => {
    const masks = join(work, 'masks.safetensors');
    const result = await run(['run', '--experiment', `#${SETTINGS}&bench=blimp.morphology&benchlimit=1`, '--masks-out', masks, '--json']);
    expect(result.code, result.err.join('\n')).toBe(0);
    const { benchmarks } = JSON.parse(result.out.join('\n'));
    expect(benchmarks).toMatchObject({ selection: 'blimp.morphology', file: 'blimp-morphology.jsonl', format: 'minimal-pairs', limit: 1 });
    expect(benchmarks.dense.items).toBe(18);

    const lines = readFileSync(join(SITE, SHIPPED_BLIMP_FILE), 'utf8')
      .split('\n')
      .filter((line) => line.trim());
    const tasks = join(work, 'blimp-morphology.jsonl');
    writeFileSync(tasks, selectBlimp(lines, 'blimp.morphology').lines.join('\n'));
    const evaluate = async (extra: string[]) => {
      const out = await run(['eval', '--model', MODEL_DIR, '--tasks', tasks, '--limit', '1', '--per-item', '--json', ...extra]);
      expect(out.code, out.err.join('\n')).toBe(0);
      return JSON.parse(out.out.join('\n')) as { accuracy: number; tasks: (Verdicts[number] & Record<string, unknown>)[] };
    };
    const dense = await evaluate([]);
    const pruned = await evaluate(['--masks', masks]);
    for (const [variant, evaluated] of [
      ['dense', dense],
      ['pruned', pruned],
    ] as const) {
      expect(benchmarks[variant].accuracy).toBe(evaluated.accuracy);
      const { perItem: _items, name: _name, file: _file, format: _format, ...task } = evaluated.tasks[0];
      expect(benchmarks[variant]).toEqual(task);
    }
    const flipped = dense.tasks[0].perItem.filter((item, i) => item.correct !== pruned.tasks[0].perItem[i].correct).length;
    expect(benchmarks.flipped).toBe(flipped);
  });

  it('refuses an uploaded task file it does not have, another file, and --tasks without a selection, before loading', async () => {
    const file = join(work, 'pairs.jsonl');
    writeFileSync(
      file,
      '{"sentence_good": "The cat sleeps.", "sentence_bad": "The cat sleep.", "field": "morphology", "linguistics_term": "agreement", "UID": "x", "pairID": "0"}\n',
    );
    const hash = await taskFileHash(readFileSync(file, 'utf8'));
    const missing = await run(['run', '--experiment', `#${SETTINGS}&bench=pasted:${hash}`]);
    expect(missing.code).toBe(2);
    expect(missing.err.at(-1)).toMatch(new RegExp(`known only by its hash ${hash}: give the task file with --tasks FILE`));
    const other = await run(['run', '--experiment', `#${SETTINGS}&bench=pasted:0000000000000000`, '--tasks', file]);
    expect(other.code).toBe(1);
    expect(other.err.at(-1)).toMatch(new RegExp(`hashes to ${hash}, the link's is 0000000000000000`));
    const none = await run(['run', '--experiment', `#${SETTINGS}`, '--tasks', file]);
    expect(none.code).toBe(2);
    expect(none.err.at(-1)).toMatch(/--tasks .* but the link names none/);
  });
});
