/**
 * `moe-lab eval --model DIR [--masks M] --tasks FILE[,FILE...] [--limit N] [--per-item] [--json]`: zero-shot
 * benchmarks by log-likelihood, scored as lm-evaluation-harness scores them (docs/evaluation.md): BLiMP minimal
 * pairs (correct when the good sentence is at least as likely as the bad one) and multiple-choice files (acc and
 * acc_norm). One task per file; a BLiMP file is also reported per field, linguistics term and paradigm. --masks
 * scores the model under a pruning's masks file, as `ppl --masks` does. The lab service does the work
 * (src/lab/benchmarks.ts), the same code as the page's Benchmarks.
 */
import { readFile } from 'node:fs/promises';
import type { BenchmarkReport, BenchmarkTaskResult } from '../../api/benchmarks.ts';
import type { GroupAccuracy } from '../../engine/eval/loglikelihood.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command } from './command.ts';
import { readMasksFile } from './ppl.ts';

async function readTaskFile(file: string): Promise<{ file: string; text: string }> {
  try {
    return { file, text: await readFile(file, 'utf8') };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFileError(file, 'missing-file', code === 'ENOENT' ? 'file not found (--tasks)' : `cannot be read (${code ?? String(error)})`);
  }
}

/** `eval --json`: the overall accuracy, then per task (docs/architecture.md, "Command line"; docs/evaluation.md). */
export function evalJson(report: BenchmarkReport, masks: string | null) {
  const [result] = report.results;
  return {
    accuracy: result.accuracy,
    items: result.items,
    masks,
    contextToken: report.contextToken,
    sequences: report.sequences,
    tokens: report.tokens,
    seconds: report.seconds,
    tasks: result.tasks.map((task) => {
      const { perItem, ...rest } = task;
      return perItem ? { ...rest, perItem } : rest;
    }),
  };
}

const percent = (x: number) => `${(100 * x).toFixed(2)}%`.padStart(8);

function groupLines(title: string, groups: GroupAccuracy[]): string[] {
  if (!groups.length || (groups.length === 1 && groups[0].name === '')) return [];
  const width = Math.max(...groups.map((g) => g.name.length), title.length);
  return [
    `  ${title.padEnd(width)}  accuracy   items`,
    ...groups.map((g) => `  ${(g.name || '-').padEnd(width)}  ${percent(g.accuracy)}  ${String(g.items).padStart(6)}`),
  ];
}

function taskLines(task: BenchmarkTaskResult): string[] {
  const norm = task.accNorm === null ? '' : `, acc_norm ${percent(task.accNorm).trim()}`;
  return [
    `${task.name} (${task.format}): acc ${percent(task.accuracy).trim()} of ${task.items} items${norm}`,
    ...groupLines('field', task.fields),
    ...groupLines('linguistics term', task.terms),
  ];
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'zero-shot benchmarks by log-likelihood (BLiMP minimal pairs, multiple choice), as lm-evaluation-harness scores them',
  usage: 'eval --model DIR --tasks FILE[,FILE...] [--masks MASKS.safetensors] [--limit N] [--per-item] [--json]',
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        masks: { type: 'string' },
        tasks: { type: 'string' },
        limit: { type: 'string' },
        'per-item': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      'eval',
    );
    const modelDir = flags.string('model');
    const files = flags
      .string('tasks')
      .split(',')
      .map((f) => f.trim());
    if (files.some((f) => !f)) throw new UsageError(`eval: --tasks has an empty file name in '${flags.string('tasks')}'`);
    const limit = flags.optionalNumber('limit', { min: 1, integer: true });
    const masksFile = flags.optionalString('masks');
    const perItem = flags.flag('per-item');
    const tasks = await Promise.all(files.map(readTaskFile));
    const folder = await directoryFolder(modelDir);
    const lab = nodeLab('moe-lab eval');
    let report: BenchmarkReport;
    try {
      const model = await lab.loadFolder(folder);
      if (!model.tokenizer)
        throw new ModelFileError(`${modelDir}/tokenizer.json`, 'missing-file', 'file not found (eval reads its tasks as text and needs the tokenizer)');
      const masks = masksFile ? await readMasksFile(masksFile, model.spec, model.contentHash) : null;
      report = await lab.benchmarksWithMaskSet({ tasks, limit, perItem }, masks);
    } finally {
      await lab.dispose();
    }
    if (flags.flag('json')) {
      io.out(JSON.stringify(evalJson(report, masksFile ?? null)));
      return 0;
    }
    const [result] = report.results;
    const lines = [
      `accuracy ${percent(result.accuracy).trim()} over ${result.items} items (${result.variant}${masksFile ? `, masks ${masksFile}` : ''}); ` +
        `${report.sequences} sequences, ${report.tokens} tokens in ${report.seconds.toFixed(1)} s; empty contexts conditioned on ${report.contextToken.rule}` +
        (report.contextToken.id === null ? '' : ` (id ${report.contextToken.id})`),
      ...result.tasks.flatMap(taskLines),
    ];
    for (const line of lines) io.out(line);
    return 0;
  },
};
