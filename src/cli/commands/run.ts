/**
 * `moe-lab run --experiment LINK [--model DIR] [--masks-out FILE] [--json]`: replays a share link headless, as the
 * page's "Reproduce this experiment" does. The link (the whole page URL or its `#...` part) is read by the page's
 * decoder (src/engine/experiment/url.ts); the requests are the page's (src/api/experiment-requests.ts); the lab
 * service is the one the page's worker hosts (src/lab/lab-service.ts), on Dawn: prune (calibrating first when the
 * method needs statistics), then the perplexity of the dense and the pruned model per genre. Same model, same
 * requests, same deterministic pipeline: the same masks and numbers as the page.
 *
 * The model: an embedded model of the page (public/models) by the link's id, or the folder --model DIR, which
 * links to a Hub repo or to files opened from disk need (the CLI does not download; the link names the repo). When
 * the link carries the model's content hash, a different model is refused. A link to a pasted text needs the text:
 * --text FILE (checked against the link's hash).
 *
 * A link that names a Benchmarks selection (keys `bench`, `benchlimit`; reproduceBenchmark in
 * src/api/experiment-requests.ts) also scores the same items on the dense and the pruned model, as the page's
 * Reproduce does: the shipped BLiMP subset from the site folder, or an uploaded task file, which the link knows
 * only by its hash: --tasks FILE gives it (its hash must be the link's).
 *
 * A link with quantization settings (`qbits`, the experiment's quantize section) then quantizes the routed experts
 * under the replayed masks, as the page's Reproduce does after pruning and evaluating: the same lab-service method
 * (Engine.quantize, src/lab/quantize-page.ts) with the page's request (quantizeRequest, src/api/quantize.ts).
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { OperationOptions, Progress } from '../../api/engine.ts';
import { flippedItems, type BenchmarkReport, type BenchmarkTaskInput, type BenchmarkVariantResult } from '../../api/benchmarks.ts';
import { evaluateRequest, pruneRequest, REPRODUCE_EVALUATION, reproduceBenchmark } from '../../api/experiment-requests.ts';
import type { PerplexityNumbers, VariantPerplexity } from '../../api/lab.ts';
import { quantizeRequest } from '../../api/quantize.ts';
import { selectionTaskFile, SHIPPED_BLIMP_FILE, taskFileHash } from '../../engine/eval/benchmark-selection.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { formatBytes } from '../../engine/format-bytes.ts';
import { shortHash } from '../../engine/experiment/model-hash.ts';
import type { Experiment } from '../../engine/experiment/schema.ts';
import { decodeExperiment, encodeExperiment } from '../../engine/experiment/url.ts';
import type { LabService } from '../../lab/lab-service.ts';
import { parseFlags, UsageError } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab, siteFolder } from '../node-lab.ts';
import type { Command, CommandIo } from './command.ts';

/** The `#...` part of a share link given whole or as its fragment (with or without the '#'). */
export function linkFragment(link: string): string {
  const text = link.trim();
  const hash = text.indexOf('#');
  if (hash >= 0) return text.slice(hash + 1);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new UsageError('run: --experiment is a URL without a "#..." part; give the share link the page copies (its settings follow the "#")');
  }
  return text;
}

/** Progress on stderr: a line when the step changes, at most one a second within a step. */
function progressLines(io: CommandIo): (p: Progress) => void {
  let last = '';
  let lastAt = 0;
  return (p) => {
    const now = performance.now();
    const head = p.unit === 'bytes' ? p.message.replace(/:.*$/, '') : p.message;
    if (head === last && now - lastAt < 1000) return;
    last = head;
    lastAt = now;
    const share = p.total > 0 && p.unit === 'bytes' ? ` (${((100 * p.done) / p.total).toFixed(0)}%)` : '';
    io.err(`moe-lab run: ${head}${share}`);
  };
}

const numbers = (p: PerplexityNumbers) => ({ ppl: p.ppl, nll: p.nll, tokens: p.tokens });

function variantJson(result: VariantPerplexity) {
  return { ...numbers(result.overall), genres: result.genres.map((g) => ({ id: g.id, name: g.name, ...numbers(g) })) };
}

/**
 * A link to a pasted text carries only its hash: --text FILE gives the text (its hash must be the link's). Without
 * a pasted text in the link, --text is refused, so it never silently stands in for a page text.
 */
async function givePastedText(lab: LabService, experiment: Experiment, file: string | undefined): Promise<void> {
  const pasted = [experiment.calibration.text, experiment.evaluation.text].flatMap((t) => (t.kind === 'pasted' ? [t.hash] : []));
  if (file === undefined) {
    if (pasted.length)
      throw new UsageError(`run: the link reads a pasted text (pasted:${pasted[0]}) and carries only its hash; give the text with --text FILE`);
    return;
  }
  if (!pasted.length) throw new UsageError("run: --text gives a pasted text, but the link's calibration and evaluation texts are the page's own");
  const added = await lab.addText(await readFile(file, 'utf8'));
  const missing = pasted.find((hash) => hash !== added.hash);
  if (missing) throw new ModelFileError(file, 'bad-header', `this text hashes to ${added.hash}, the link's pasted text is ${missing}: another text`);
}

/**
 * The task file of the link's benchmark selection (null: the link names none). The shipped subset is read from the
 * site folder the embedded models come from; an uploaded file only from --tasks FILE, whose hash must be the link's.
 * Without a benchmark selection in the link, --tasks is refused, so it never silently stands in for one.
 */
async function linkedTaskFile(experiment: Experiment, file: string | undefined): Promise<BenchmarkTaskInput | null> {
  const benchmark = reproduceBenchmark(experiment);
  if (!benchmark) {
    if (file !== undefined) throw new UsageError('run: --tasks gives the task file of a benchmark selection (bench=pasted:<hash>), but the link names none');
    return null;
  }
  const given = file === undefined ? null : { file, text: await readFile(file, 'utf8') };
  if (given && benchmark.tasks.kind !== 'pasted') {
    throw new UsageError(`run: --tasks gives an uploaded task file, but the link's benchmark is the shipped BLiMP subset (bench=${benchmark.tasks.id})`);
  }
  const givenHash = given && (await taskFileHash(given.text));
  if (given && benchmark.tasks.kind === 'pasted' && givenHash !== benchmark.tasks.hash) {
    throw new ModelFileError(given.file, 'bad-header', `this task file hashes to ${givenHash}, the link's is ${benchmark.tasks.hash}: another file`);
  }
  try {
    return await selectionTaskFile(
      benchmark.tasks,
      async () => (await readFile(`${siteFolder()}/${SHIPPED_BLIMP_FILE}`, 'utf8')).split('\n').filter((line) => line.trim()),
      () => given,
      'give the task file with --tasks FILE',
    );
  } catch (error) {
    throw new UsageError(`run: ${(error as Error).message}`);
  }
}

/** The text output's benchmark lines: accuracy as the page's Reproduce shows it (percent to 2 decimals). */
function benchmarkLines(b: ReturnType<typeof benchmarkJson>): string[] {
  const acc = (x: number) => `${(100 * x).toFixed(2)}%`;
  return [
    `benchmark ${b.selection} (${b.file}, ${b.dense.items} items, limit ${b.limit} per ${b.format === 'minimal-pairs' ? 'paradigm' : 'file'}): dense acc ${acc(b.dense.accuracy)}, pruned acc ${acc(b.pruned.accuracy)}, ${b.flipped} flipped`,
  ];
}

/** `run --json`'s `benchmarks`: per variant the accuracy of the one task file, per BLiMP field, term and paradigm. */
function benchmarkJson(report: BenchmarkReport, experiment: Experiment) {
  const { tasks, limit } = experiment.benchmark;
  const variant = (result: BenchmarkVariantResult) => {
    const { perItem: _items, name: _name, file: _file, format: _format, ...task } = result.tasks[0];
    return task;
  };
  const of = (v: string) => variant(report.results.find((r) => r.variant === v)!);
  const [task] = report.results[0].tasks;
  return {
    selection: tasks.kind === 'pasted' ? `pasted:${tasks.hash}` : tasks.id,
    file: task.file,
    format: task.format,
    limit,
    contextToken: report.contextToken,
    sequences: report.sequences,
    tokens: report.tokens,
    dense: of('dense'),
    pruned: of('pruned'),
    flipped: flippedItems(report).length,
    seconds: report.seconds,
  };
}

export const runCommand: Command = {
  name: 'run',
  summary:
    "replay a share link headless (the page's Reproduce this experiment): prune, then dense and pruned perplexity, then quantize when the link has qbits",
  usage: 'run --experiment LINK [--model DIR] [--text FILE] [--tasks FILE] [--masks-out MASKS.safetensors] [--json]',
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        experiment: { type: 'string' },
        model: { type: 'string' },
        text: { type: 'string' },
        tasks: { type: 'string' },
        'masks-out': { type: 'string' },
        json: { type: 'boolean' },
      },
      'run',
    );
    const fragment = linkFragment(flags.string('experiment'));
    const decoded = decodeExperiment(fragment);
    if (!decoded.keys.length) throw new UsageError('run: --experiment carries no experiment settings (expected "#v=1&model=...&method=...")');
    // The page shows these notes and goes on with the defaults it names; so does the replay, saying so.
    for (const note of decoded.notes) io.err(`moe-lab run: note about the link: ${note}`);
    const { experiment } = decoded;
    const linked = `${experiment.model.source}:${experiment.model.id}`;
    const modelDir = flags.optionalString('model');
    if (!modelDir && experiment.model.source === 'hub') {
      throw new UsageError(
        `run: the link's model is on the Hugging Face Hub (${linked}); the CLI does not download: fetch that repo ` +
          `(e.g. huggingface-cli download ${experiment.model.id.replace(/@.*$/, '')} --local-dir DIR) and give --model DIR`,
      );
    }
    if (!modelDir && experiment.model.source === 'files') {
      throw new UsageError(`run: the link's model was opened from disk on the page (${linked}); give that folder with --model DIR`);
    }

    // Before the model loads: a benchmark file the replay cannot have is refused at once.
    const taskFile = await linkedTaskFile(experiment, flags.optionalString('tasks'));

    const controller = new AbortController();
    const cancel = () => {
      io.err('moe-lab run: cancelling (Ctrl-C again to exit at once)');
      process.off('SIGINT', cancel);
      controller.abort();
    };
    process.on('SIGINT', cancel);
    const options: OperationOptions = { signal: controller.signal, onProgress: progressLines(io) };
    const started = performance.now();
    const lab = nodeLab('moe-lab run');
    try {
      const model = modelDir
        ? await lab.loadFolder(await directoryFolder(modelDir), options)
        : await lab.loadModel({ kind: 'embedded', id: experiment.model.id }, options);
      const hash = shortHash(model.contentHash);
      if (experiment.model.hash === null) {
        io.err(`moe-lab run: the link carries no model hash, so it cannot be checked that ${model.name} (${hash}) is the model it was made on`);
      } else if (experiment.model.hash !== hash) {
        throw new ModelFileError(
          modelDir ?? linked,
          'bad-header',
          `this model's content hash is ${hash}, the link was made on ${experiment.model.hash}: another model (or another version of it); give the model the link was made on`,
        );
      }
      await givePastedText(lab, experiment, flags.optionalString('text'));
      const pruning = await lab.prune(pruneRequest(experiment), options);
      const masksOut = flags.optionalString('masks-out');
      if (masksOut) {
        const [file] = await lab.exportFiles({ kind: 'masks', zip: false }, options);
        await writeFile(masksOut, file.bytes);
      }
      const { variants, byGenre } = REPRODUCE_EVALUATION;
      const evaluation = await lab.evaluate(evaluateRequest(experiment, [...variants], byGenre), options);
      const dense = evaluation.results.find((r) => r.variant === 'dense')!;
      const pruned = evaluation.results.find((r) => r.variant === 'pruned')!;
      const benchmark = reproduceBenchmark(experiment);
      const scored =
        taskFile && benchmark && (await lab.benchmark({ tasks: [taskFile], limit: benchmark.limit, variants: benchmark.variants, perItem: true }, options));
      // The page's Reproduce quantizes last, under the masks in force (src/state/lab-actions.ts, runExperiment).
      const quantized = experiment.quantize.bits === 'none' ? null : await lab.quantize(quantizeRequest(experiment), options);
      const { weights, pruned: prunedWeights } = pruning.overall;
      const sparsity = prunedWeights / Math.max(1, weights);
      const seconds = (performance.now() - started) / 1000;
      if (flags.flag('json')) {
        io.out(
          JSON.stringify({
            experiment: encodeExperiment({ ...experiment, model: { ...experiment.model, hash } }),
            model: { name: model.name, link: linked, ...(modelDir ? { dir: modelDir } : {}), hash, contentHash: model.contentHash },
            method: pruning.method,
            sparsity,
            weights,
            prunedWeights,
            calibration: pruning.calibration && {
              tokens: pruning.calibration.tokens,
              windows: pruning.calibration.windows,
              seqLen: pruning.calibration.seqLen,
            },
            ctx: evaluation.ctx,
            dense: variantJson(dense),
            pruned: variantJson(pruned),
            // The pruned model against the dense one on the same windows (docs/forward.md, Fidelity).
            fidelity: evaluation.fidelity,
            ...(scored ? { benchmarks: benchmarkJson(scored, experiment) } : {}),
            ...(masksOut ? { masks: masksOut } : {}),
            // The page's quantization summary (QuantizeSummary, src/api/quantize.ts): report, pruned, perplexity.
            ...(quantized ? { quantized } : {}),
            seconds,
          }),
        );
      } else {
        const change = pruned.overall.ppl / dense.overall.ppl - 1;
        io.out(
          [
            `${model.name} (${hash}): ${pruning.method} pruned ${(100 * sparsity).toFixed(2)}% of ${weights.toLocaleString('en-US')} weights`,
            `dense  ppl ${dense.overall.ppl.toFixed(4)} (mean NLL ${dense.overall.nll.toFixed(6)} over ${dense.overall.tokens} tokens, windows of ${evaluation.ctx})`,
            `pruned ppl ${pruned.overall.ppl.toFixed(4)} (mean NLL ${pruned.overall.nll.toFixed(6)}; ${change >= 0 ? '+' : ''}${(100 * change).toFixed(2)}%), ${seconds.toFixed(1)} s`,
            ...(evaluation.fidelity
              ? [
                  `KL(dense || pruned) ${evaluation.fidelity.overall.kl.toFixed(6)} nats/token, top-1 agreement ${(100 * evaluation.fidelity.overall.top1Agreement).toFixed(2)}%`,
                ]
              : []),
            ...(scored ? benchmarkLines(benchmarkJson(scored, experiment)) : []),
            // The digits of the page's Quantize panel: perplexity to 4 decimals, bytes on disk as formatBytes writes them.
            ...(quantized
              ? [
                  `quantized ppl ${quantized.perplexity.ppl.toFixed(4)} (${quantized.report.method.toUpperCase()} ${quantized.report.bits === null ? `mixed ${quantized.report.achievedBits.toFixed(2)} average bits` : `${quantized.report.bits} bits`}${quantized.pruned ? ' after pruning' : ''}), ${formatBytes(quantized.report.accounting.quantized.diskBytes)} on disk`,
                ]
              : []),
          ].join('\n'),
        );
      }
      return 0;
    } finally {
      process.off('SIGINT', cancel);
      await lab.dispose();
    }
  },
};
