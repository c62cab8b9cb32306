/**
 * BLiMP benchmark speed and accuracy (JSON on stdout): the shipped subset public/data/blimp/blimp-200.jsonl (67
 * paradigms x 200 pairs) scored as `moe-lab eval` scores it (src/lab/benchmarks.ts: every sentence conditioned on
 * the BOS token, many sentences per forward pass) on the default model, dense or under a masks file. Reports
 * pairs/s and tokens/s (wall clock and this process's CPU time around the scoring, model upload included once,
 * a warm-up on the first pairs first), accuracy overall, per field and per linguistics term.
 *   scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/eval-blimp.ts
 *     [--model public/models/brown-moe-3m] [--masks MASKS.safetensors] [--limit N (pairs per paradigm)]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { readMasksFile } from '../src/cli/commands/ppl.ts';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { nodeLab } from '../src/cli/node-lab.ts';
import { cpuSecondsSince } from './forward-shape.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/brown-moe-3m' },
    masks: { type: 'string' },
    limit: { type: 'string' },
    tasks: { type: 'string', default: 'public/data/blimp/blimp-200.jsonl' },
  },
});
const limit = values.limit === undefined ? undefined : Number(values.limit);
if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit must be a positive integer; got ${values.limit}`);

const lab = nodeLab('bench-eval-blimp');
try {
  const model = await lab.loadFolder(await directoryFolder(values.model));
  const masks = values.masks ? await readMasksFile(values.masks, model.spec, model.contentHash) : null;
  const tasks = [{ file: values.tasks, text: await readFile(values.tasks, 'utf8') }];
  // Warm-up: upload and pipeline compilation on one pair per paradigm.
  await lab.benchmarksWithMaskSet({ tasks, limit: 1, perItem: false }, masks);
  const cpuStart = process.cpuUsage();
  const report = await lab.benchmarksWithMaskSet({ tasks, limit, perItem: false }, masks);
  const cpuSeconds = cpuSecondsSince(cpuStart);
  const caps = await lab.capabilities();
  const [result] = report.results;
  const [task] = result.tasks;
  const round = (x: number) => Math.round(x * 10000) / 10000;
  const groups = (list: { name: string; items: number; accuracy: number }[]) =>
    Object.fromEntries(list.map((g) => [g.name, { items: g.items, accuracy: round(g.accuracy) }]));
  console.log(
    JSON.stringify(
      {
        model: values.model,
        masks: values.masks ?? null,
        adapter: caps.available ? caps.summary : caps.reason,
        pairs: result.items,
        limitPerParadigm: limit ?? null,
        sequences: report.sequences,
        tokens: report.tokens,
        seconds: round(report.seconds),
        cpuSeconds: round(cpuSeconds),
        pairsPerSecond: round(result.items / report.seconds),
        tokensPerSecond: Math.round(report.tokens / report.seconds),
        accuracy: round(result.accuracy),
        fields: groups(task.fields),
        terms: groups(task.terms),
      },
      null,
      2,
    ),
  );
} finally {
  await lab.dispose();
}
