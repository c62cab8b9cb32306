/**
 * `moe-lab distill --teacher DENSE_DIR --model PRUNED_DIR (--ids IDS.json | --text FILE [--samples N] [--seq-len L]
 * [--seed S]) [--steps N] [--lr X] [--eval-ids IDS.json | --eval-text FILE] --out DIR`
 * Expert-wise knowledge distillation of a pruned model toward its dense model on the GPU, MoE layer by MoE layer
 * on the inference stack, any family the lab loads (docs/distillation.md): writes a Hugging Face folder with the
 * same layout as PRUNED_DIR (masks preserved: every pruned weight exactly 0) and distill-report.json with
 * ppl_dense, ppl_pruned, ppl_distilled on the evaluation text and the per-layer curves.
 * Ctrl-C stops after the current step and still writes everything (with --save-state, a state to --resume from).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { sampleTrainingWindows } from '../../engine/distill/data.ts';
import { curvesSvg, DISTILL_REPORT_FILE, DISTILL_REPORT_FORMAT, perplexityFields, type DistillReport } from '../../engine/distill/report.ts';
import { DEFAULT_DISTILL, type DistillSettings } from '../../engine/distill/settings.ts';
import { decodeDistillState, encodeDistillState } from '../../engine/distill/state.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { parseTokenIds } from '../../engine/eval/ids.ts';
import { modelContentHash } from '../../engine/experiment/model-hash.ts';
import { openCheckpoint, type Checkpoint } from '../../engine/model/checkpoint.ts';
import { loadTokenizer } from '../../engine/tokenizer.ts';
import { summarizeCapabilities } from '../../gpu/capabilities.ts';
import type { DistillSession } from '../../gpu/distill/session.ts';
import type { PerplexityReport } from '../../gpu/eval/perplexity.ts';
import { parseFlags, UsageError, type ParsedFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command, CommandIo } from './command.ts';
import { DEFAULT_TEXT_CTX } from './ppl.ts';
import { numberFlag, readIdWindows, readTextStream } from './prune-options.ts';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';

export const DISTILL_STATE_FILE = 'distill-state.safetensors';

function tokenizerOf(checkpoint: Checkpoint, dir: string, flag: string) {
  if (!checkpoint.tokenizerJson)
    throw new ModelFileError(`${dir}/tokenizer.json`, 'missing-file', `file not found (${flag} needs the model tokenizer; give ids instead)`);
  return loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig, `${dir}/tokenizer.json`);
}

/** Training windows of S + 1 tokens: drawn from --text by the calibration rule, or given by --ids. */
async function trainingWindows(flags: ParsedFlags, student: Checkpoint, dir: string, seed: number): Promise<{ windows: number[][]; source: string }> {
  const idsFile = flags.optionalString('ids');
  const textFile = flags.optionalString('text');
  if ((idsFile === undefined) === (textFile === undefined)) throw new UsageError('distill: give exactly one of --ids and --text');
  if (idsFile) {
    if (['samples', 'seq-len'].some((f) => flags.values[f] !== undefined))
      throw new UsageError('distill: --samples and --seq-len draw windows from --text; with --ids the file gives the windows');
    return { windows: await readIdWindows(idsFile, student), source: `ids:${idsFile}` };
  }
  // The Recover step's rows of the settings vocabulary: the page's defaults and limits.
  const samples = numberFlag(flags, SETTINGS.recoverSamples);
  const seqLen = numberFlag(flags, SETTINGS.recoverSeqLen, Math.min(SETTINGS.recoverSeqLen.default, student.spec.maxPositions));
  if (seqLen > student.spec.maxPositions)
    throw new UsageError(`distill: --seq-len ${seqLen} is longer than the model's context (${student.spec.maxPositions})`);
  const tokens = await readTextStream(textFile!, student, dir);
  if (tokens.length < seqLen + 1) throw new UsageError(`distill: ${textFile} gives ${tokens.length} tokens, fewer than one window of ${seqLen + 1}`);
  return { windows: sampleTrainingWindows(tokens, samples, seqLen, seed), source: `text:${textFile}` };
}

/** Evaluation tokens (the `moe-lab ppl` conventions) or null without an evaluation text. */
async function evaluationTokens(flags: ParsedFlags, student: Checkpoint, dir: string): Promise<{ tokens: number[]; source: string; ctx: number } | null> {
  const idsFile = flags.optionalString('eval-ids');
  const textFile = flags.optionalString('eval-text');
  if (idsFile !== undefined && textFile !== undefined) throw new UsageError('distill: give at most one of --eval-ids and --eval-text');
  if (idsFile === undefined && textFile === undefined) return null;
  const tokens = idsFile
    ? parseTokenIds(idsFile, await readFile(idsFile, 'utf8'), student.spec.vocabSize)
    : tokenizerOf(student, dir, '--eval-text').encode(await readFile(textFile!, 'utf8'));
  const maxTokens = flags.optionalNumber('eval-max-tokens', { min: 2, integer: true });
  const available = Math.min(tokens.length, maxTokens ?? Infinity);
  const ctx = flags.number('eval-ctx', idsFile ? available : Math.min(student.spec.maxPositions, DEFAULT_TEXT_CTX), {
    min: 2,
    max: student.spec.maxPositions,
    integer: true,
  });
  if (available < 2) throw new UsageError(`distill: ${idsFile ?? textFile} gives ${available} token(s); at least 2 are needed for one prediction`);
  return { tokens: tokens.slice(0, available), source: idsFile ? `ids:${idsFile}` : `text:${textFile}`, ctx };
}

function settingsOf(flags: ParsedFlags): DistillSettings {
  const train = flags.optionalString('train');
  if (train !== undefined && train !== 'experts')
    throw new UsageError(
      `distill: --train ${train} is no longer available: distillation trains the routed experts only, layer by layer on the inference forward (training every weight needs a full backward per model family; docs/distillation.md)`,
    );
  if (flags.values.lambda !== undefined)
    throw new UsageError(
      'distill: --lambda is no longer available: the objective is the expert-wise MSE alone, with no cross-entropy term to weigh it against (docs/distillation.md)',
    );
  return {
    ...DEFAULT_DISTILL,
    steps: numberFlag(flags, SETTINGS.recoverSteps),
    lr: numberFlag(flags, SETTINGS.recoverLr),
    batch: numberFlag(flags, SETTINGS.recoverBatch),
    seed: numberFlag(flags, SETTINGS.recoverSeed),
    logEvery: flags.number('log-every', DEFAULT_DISTILL.logEvery, { min: 1, integer: true }),
  };
}

const entryOf = (r: PerplexityReport) => ({ ppl: r.ppl, nll: r.nll, tokens: r.tokens });

async function run(argv: string[], io: CommandIo): Promise<number> {
  const flags = parseFlags(
    argv,
    {
      teacher: { type: 'string' },
      model: { type: 'string' },
      ids: { type: 'string' },
      text: { type: 'string' },
      samples: { type: 'string' },
      'seq-len': { type: 'string' },
      seed: { type: 'string' },
      steps: { type: 'string' },
      lr: { type: 'string' },
      batch: { type: 'string' },
      train: { type: 'string' },
      lambda: { type: 'string' },
      'log-every': { type: 'string' },
      'until-step': { type: 'string' },
      'eval-ids': { type: 'string' },
      'eval-text': { type: 'string' },
      'eval-ctx': { type: 'string' },
      'eval-max-tokens': { type: 'string' },
      resume: { type: 'string' },
      'save-state': { type: 'boolean' },
      curves: { type: 'string' },
      out: { type: 'string' },
      json: { type: 'boolean' },
    },
    'distill',
  );
  const teacherDir = flags.string('teacher');
  const studentDir = flags.string('model');
  const out = flags.string('out');
  if ([teacherDir, studentDir].some((dir) => resolve(dir) === resolve(out)))
    throw new UsageError('distill: --out must be a new folder, not --teacher or --model');
  let settings = settingsOf(flags);
  const student = await openCheckpoint(await directoryFolder(studentDir));
  // The lab service the page's worker hosts: the teacher is its loaded model, the student distills on its GPU.
  const lab = nodeLab('moe-lab distill');
  let session: DistillSession | null = null;
  try {
    await lab.loadFolder(await directoryFolder(teacherDir));
    const teacher = lab.checkpoint();
    // Refuse a student that is not the teacher's network before reading any data.
    lab.checkStudent(student);
    const resume = flags.optionalString('resume');
    const state = resume ? await decodeDistillState(resume, new Uint8Array(await readFile(resume))) : null;
    // A resumed run keeps its own optimizer settings and data order; only the step count may grow.
    if (state) settings = { ...state.settings, logEvery: settings.logEvery };
    const untilStep = flags.optionalNumber('until-step', { min: 1, integer: true }) ?? Infinity;
    const data = await trainingWindows(flags, student, studentDir, settings.seed);
    settings.batch = Math.min(settings.batch, data.windows.length);
    const evaluation = await evaluationTokens(flags, student, studentDir);

    session = await lab.distillation({ student, windows: data.windows, settings, resume: state });
    const { problem } = session;
    io.err(
      `distill: ${problem.prunedWeights} pruned expert weights held at 0 (masks from ${problem.maskSource}); ${data.windows.length} windows of ${session.order.window}, ${settings.batch} per step; ${problem.layers.length} MoE layers x ${settings.steps} steps`,
    );
    const pplOptions = evaluation ? { ctx: evaluation.ctx } : null;
    const dense = evaluation && pplOptions ? await session.perplexity('dense', evaluation.tokens, pplOptions) : null;
    const pruned = evaluation && pplOptions ? await session.perplexity('pruned', evaluation.tokens, pplOptions) : null;
    if (dense && pruned) io.err(`ppl dense ${dense.ppl.toFixed(4)}, pruned ${pruned.ppl.toFixed(4)} (${dense.tokens} tokens)`);
    let stop = false;
    const onSignal = () => {
      stop = true;
      io.err('stopping after this step (Ctrl-C again to abort)');
      process.once('SIGINT', () => process.exit(130));
    };
    process.once('SIGINT', onSignal);
    try {
      await session.run({
        shouldStop: () => stop || session!.step >= untilStep,
        onLog: (entries) => {
          for (const e of entries.filter((e) => e.step % settings.logEvery === 0 || e.step % settings.steps === 0)) {
            io.err(
              `step ${e.step}  layer ${e.layer}  expert MSE ${e.expertLoss.toPrecision(4)}  |g| ${e.gradNorm.toFixed(3)}  lr ${e.lr.toExponential(2)}  ${e.seconds.toFixed(0)} s`,
            );
          }
        },
        onLayer: (m) =>
          io.err(
            `layer ${m.layer}: expert MSE on its first batch ${m.mse_before.toPrecision(4)} -> ${m.mse_after!.toPrecision(4)} (${m.seconds.toFixed(0)} s)`,
          ),
      });
    } finally {
      process.off('SIGINT', onSignal);
    }
    // The run is over: its GPU state goes before the distilled model is uploaded for evaluation (under a budget both
    // would not fit); the resumable state is read first.
    await session.suspend();
    const saved = flags.flag('save-state') ? await session.state() : null;
    session.destroy();
    const distilled = await session.distilledModel(out);
    const distilledPpl = evaluation && pplOptions ? await session.perplexity('distilled', evaluation.tokens, pplOptions, distilled.checkpoint) : null;
    const perplexity = dense && pruned && distilledPpl ? { dense: entryOf(dense), pruned: entryOf(pruned), distilled: entryOf(distilledPpl) } : null;
    const report: DistillReport = {
      format: DISTILL_REPORT_FORMAT,
      created: new Date().toISOString(),
      objective: 'expert-mse-layerwise',
      teacher: { folder: teacherDir, content_hash: await modelContentHash(teacher.folder, teacher.files) },
      student: {
        folder: studentDir,
        content_hash: await modelContentHash(student.folder, student.files),
        architecture: student.spec.architecture,
        masks: problem.maskSource,
        pruned_weights: problem.prunedWeights,
        nonzero_pruned_zeroed: problem.nonzeroPruned,
        dropped_experts: problem.droppedExperts,
      },
      settings,
      data: { source: data.source, windows: data.windows.length, seq_len: session.order.window, tokens_per_step: settings.batch * session.order.window },
      steps: session.step,
      total_steps: session.totalSteps,
      finished: session.finished,
      seconds: session.seconds,
      device: summarizeCapabilities(session.ctx.caps),
      evaluation: evaluation && dense ? { source: evaluation.source, ctx: evaluation.ctx, stride: dense.stride, windows: dense.windows } : null,
      ...perplexityFields(perplexity),
      perplexity,
      masks_preserved: { pruned_weights: problem.prunedWeights, nonzero_after: distilled.nonzeroPruned },
      layers: session.layers,
      curves: session.curves,
    };
    await mkdir(out, { recursive: true });
    for (const file of distilled.files) await writeFile(join(out, file.path), file.bytes);
    await writeFile(join(out, DISTILL_REPORT_FILE), `${JSON.stringify(report, null, 2)}\n`);
    if (saved) await writeFile(join(out, DISTILL_STATE_FILE), encodeDistillState(saved));
    const curvesFile = flags.optionalString('curves');
    if (curvesFile) await writeFile(curvesFile, curvesSvg(report.curves, `distillation of ${basename(resolve(studentDir))}`));
    if (distilled.nonzeroPruned) throw new Error(`${distilled.nonzeroPruned} pruned weights are not 0 in the written model (a bug: the masks must survive)`);
    const summary = {
      out,
      steps: report.steps,
      finished: report.finished,
      total_steps: report.total_steps,
      ppl_dense: report.ppl_dense,
      ppl_pruned: report.ppl_pruned,
      ppl_distilled: report.ppl_distilled,
      gap_recovered: report.gap_recovered,
      seconds: report.seconds,
    };
    if (flags.flag('json')) io.out(JSON.stringify(summary));
    else {
      const ppl =
        report.ppl_distilled === null
          ? 'no evaluation text'
          : `ppl dense ${report.ppl_dense!.toFixed(4)}, pruned ${report.ppl_pruned!.toFixed(4)}, distilled ${report.ppl_distilled.toFixed(4)}; gap recovered ${report.gap_recovered === null ? 'n/a' : `${(100 * report.gap_recovered).toFixed(1)}%`}`;
      io.out(`${report.finished ? 'finished' : 'stopped'} at step ${report.steps} in ${report.seconds.toFixed(0)} s; ${ppl}; wrote ${out}`);
    }
    return 0;
  } finally {
    session?.destroy();
    await lab.dispose();
  }
}

export const distillCommand: Command = {
  name: 'distill',
  summary: 'expert-wise knowledge distillation of a pruned model toward its dense model, layer by layer (masks preserved), on the GPU',
  usage:
    'distill --teacher DENSE_DIR --model PRUNED_DIR (--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S]) [--steps N] [--lr X] [--batch B] [--eval-ids IDS.json | --eval-text FILE] [--eval-ctx N] [--eval-max-tokens N] [--until-step N] [--resume STATE] [--save-state] [--curves FILE.svg] --out DIR [--json]',
  run,
};
