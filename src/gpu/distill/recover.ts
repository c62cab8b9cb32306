/**
 * The page's Recover step in the engine worker: one DistillSession per (pruning in force, settings), kept between
 * calls so the page can run it in chunks, pause and resume; the three perplexities once it is finished; the
 * distilled folder and its report for download. What it reads from the lab (the pruned folder's files, token
 * streams) comes in as callbacks, so this file knows nothing of the worker.
 */
import type { RecoverReport, RecoverRequest } from '../../api/recover.ts';
import { sampleTrainingWindows } from '../../engine/distill/data.ts';
import { memoryFolder, type FolderFile } from '../../engine/distill/export.ts';
import { curvesSvg, DISTILL_REPORT_FILE, DISTILL_REPORT_FORMAT, perplexityFields, type PerplexityEntry } from '../../engine/distill/report.ts';
import { DEFAULT_DISTILL, type DistillSettings } from '../../engine/distill/settings.ts';
import { openCheckpoint, type Checkpoint } from '../../engine/model/checkpoint.ts';
import type { GpuContext } from '../context.ts';
import { DistillSession } from './session.ts';

export interface RecoveryInputs {
  ctx: GpuContext;
  teacher: Checkpoint;
  /** Identifies the pruning in force: a new one starts a new run. */
  pruning: object;
  /** The pruned folder as the pruning export writes it (model files, masks.safetensors, prune-report.json). */
  prunedFiles(): Promise<FolderFile[]>;
  /** The training text's tokens without special tokens (the calibration rule's stream). */
  trainingTokens(): Promise<number[]>;
  /** The first `maxTokens` evaluation tokens, as the Evaluate panel reads them. */
  evaluationTokens(): Promise<number[]>;
}

export interface RecoveryProgress {
  step: number;
  /** Steps of the whole run (steps per layer x MoE layers). */
  total: number;
  message: string;
}

type Perplexities = NonNullable<RecoverReport['perplexity']>;

export class Recovery {
  private session: DistillSession | null = null;
  private pruning: object | null = null;
  private key = '';
  private perplexity: Perplexities | null = null;
  private nonzeroPruned: number | null = null;
  private distilledFiles: FolderFile[] | null = null;
  private lastRequest: RecoverRequest | null = null;

  /** Runs (or continues) the distillation the request describes up to request.untilStep. */
  async run(
    request: RecoverRequest,
    inputs: RecoveryInputs,
    options: { signal?: AbortSignal; onProgress?: (p: RecoveryProgress) => void } = {},
  ): Promise<RecoverReport> {
    const settings: DistillSettings = {
      ...DEFAULT_DISTILL,
      steps: request.steps,
      lr: request.lr,
      batch: request.batch,
      seed: request.training.seed,
      logEvery: 1,
    };
    const key = JSON.stringify({ training: request.training, settings });
    if (request.restart || !this.session || this.pruning !== inputs.pruning || this.key !== key) {
      this.destroy();
      const student = await openCheckpoint(memoryFolder('pruned', await inputs.prunedFiles()));
      const tokens = await inputs.trainingTokens();
      const { samples, seqLen, seed } = request.training;
      const windows = sampleTrainingWindows(tokens, samples, seqLen, seed);
      settings.batch = Math.min(settings.batch, windows.length);
      this.session = await DistillSession.create(inputs.ctx, { teacher: inputs.teacher, student, windows, settings, signal: options.signal });
      this.pruning = inputs.pruning;
      this.key = key;
    }
    this.lastRequest = request;
    const session = this.session;
    const untilStep = Math.min(request.untilStep, session.totalSteps);
    await session.run({
      signal: options.signal,
      shouldStop: () => session.step >= untilStep,
      onLog: (entries) => {
        const last = entries.at(-1)!;
        options.onProgress?.({
          step: last.step,
          total: session.totalSteps,
          message: `Distilling layer ${last.layer}: step ${last.step} of ${session.totalSteps}, expert MSE ${last.expertLoss.toPrecision(3)}`,
        });
      },
    });
    options.signal?.throwIfAborted();
    if (session.finished && !this.perplexity) await this.evaluate(session, request, inputs, options);
    return this.report();
  }

  private async evaluate(
    session: DistillSession,
    request: RecoverRequest,
    inputs: RecoveryInputs,
    options: { signal?: AbortSignal; onProgress?: (p: RecoveryProgress) => void },
  ): Promise<void> {
    const tokens = await inputs.evaluationTokens();
    const ppl = { ctx: request.evaluation.ctx, signal: options.signal };
    const entry = (r: { ppl: number; nll: number; tokens: number }): PerplexityEntry => ({ ppl: r.ppl, nll: r.nll, tokens: r.tokens });
    const say = (message: string) => options.onProgress?.({ step: session.step, total: session.totalSteps, message });
    say('Perplexity of the dense model');
    const dense = entry(await session.perplexity('dense', tokens, ppl));
    say('Perplexity of the pruned model');
    const pruned = entry(await session.perplexity('pruned', tokens, ppl));
    say('Writing and reading back the distilled model');
    const distilled = await session.distilledModel('distilled');
    say('Perplexity of the distilled model');
    this.perplexity = {
      dense,
      pruned,
      distilled: entry(await session.perplexity('distilled', tokens, ppl, distilled.checkpoint)),
      ctx: request.evaluation.ctx,
    };
    this.nonzeroPruned = distilled.nonzeroPruned;
    this.distilledFiles = distilled.files;
  }

  private report(): RecoverReport {
    const session = this.session!;
    const fields = perplexityFields(this.perplexity);
    return {
      step: session.step,
      totalSteps: session.totalSteps,
      finished: session.finished,
      curves: structuredClone(session.curves), // snapshots: the session keeps growing its own
      layers: structuredClone(session.layers),
      seconds: session.seconds,
      prunedWeights: session.problem.prunedWeights,
      maskSource: session.problem.maskSource,
      perplexity: this.perplexity,
      gapRecovered: fields.gap_recovered,
      nonzeroPruned: this.nonzeroPruned,
    };
  }

  /** Whether a run has finished and its distilled model can be exported. */
  get finished(): boolean {
    return this.distilledFiles !== null;
  }

  /** The distilled folder (same layout as the pruned export), distill-report.json and the curves as SVG. */
  async exportFiles(): Promise<FolderFile[]> {
    const session = this.session;
    const request = this.lastRequest;
    if (!session || !request || !this.distilledFiles) throw new Error('Nothing is distilled yet: run the Recover step to the end first.');
    const report = { format: DISTILL_REPORT_FORMAT, created: new Date().toISOString(), request, ...this.report() };
    const text = new TextEncoder();
    return [
      ...this.distilledFiles,
      { path: DISTILL_REPORT_FILE, bytes: text.encode(`${JSON.stringify(report, null, 2)}\n`) },
      { path: 'distill-curves.svg', bytes: text.encode(curvesSvg(session.curves, 'Recover: distillation of the pruned model')) },
    ];
  }

  destroy(): void {
    this.session?.destroy();
    this.session = null;
    this.pruning = null;
    this.perplexity = null;
    this.nonzeroPruned = null;
    this.distilledFiles = null;
  }
}
