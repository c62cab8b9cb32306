/**
 * One distillation from two opened checkpoints to a distilled folder and its report, shared by `moe-lab distill`
 * and the page's Recover step: prepare (scope, flat parameters, masks), the GPU distiller, the seeded run (which may
 * stop and continue), the written files (checked: every pruned weight reads back as exactly 0), and the three
 * perplexities on the same evaluation windows. No Node APIs: files are returned, never written here.
 */
import { WindowOrder } from '../../engine/distill/data.ts';
import { distilledFolderFiles, memoryFolder, pruneViolations, type FolderFile } from '../../engine/distill/export.ts';
import { readFlatParameters } from '../../engine/distill/params.ts';
import { prepareDistillation, type PreparedDistillation } from '../../engine/distill/problem.ts';
import { appendCurves, emptyCurves, type DistillCurves } from '../../engine/distill/report.ts';
import { validateDistillSettings, type DistillSettings } from '../../engine/distill/settings.ts';
import type { DistillState } from '../../engine/distill/state.ts';
import { openCheckpoint, type Checkpoint } from '../../engine/model/checkpoint.ts';
import type { GpuContext } from '../context.ts';
import type { PerplexityOptions, PerplexityReport } from '../eval/perplexity.ts';
import { GpuDistiller } from './distiller.ts';
import { checkpointPerplexity } from './evaluate.ts';
import { runDistillation, type DistillLambda, type DistillLogEntry, type DistillRunHooks } from './run.ts';

export interface DistillSessionInput {
  teacher: Checkpoint;
  student: Checkpoint;
  /** Training windows of S + 1 tokens each (src/engine/distill/data.ts). */
  windows: readonly ArrayLike<number>[];
  settings: DistillSettings;
  /** Continue from a saved state (its step, lambda, parameters and moments). */
  resume?: DistillState | null;
  signal?: AbortSignal;
}

export type Evaluated = 'dense' | 'pruned' | 'distilled';

export class DistillSession {
  readonly curves: DistillCurves = emptyCurves();
  /** CE and L_expert of the first batch when lambda was measured there. */
  lambdaMeasured: DistillLambda | null = null;
  /** Seconds spent in run() so far. */
  seconds = 0;
  finished = false;

  private constructor(
    readonly ctx: GpuContext,
    readonly input: DistillSessionInput,
    readonly prepared: PreparedDistillation,
    readonly order: WindowOrder,
    readonly distiller: GpuDistiller,
  ) {}

  static async create(ctx: GpuContext, input: DistillSessionInput): Promise<DistillSession> {
    validateDistillSettings(input.settings);
    const order = new WindowOrder(input.windows, input.settings.batch, input.settings.seed);
    const prepared = await prepareDistillation(input.teacher, input.student, {
      window: order.window,
      trainable: input.settings.trainable,
      signal: input.signal,
    });
    const s = input.settings;
    const distiller = await GpuDistiller.create(ctx, prepared.problem, order.batch, {
      beta1: s.beta1,
      beta2: s.beta2,
      eps: s.adamEps,
      weightDecay: s.weightDecay,
      maxNorm: s.maxGradNorm,
    });
    const session = new DistillSession(ctx, input, prepared, order, distiller);
    const resume = input.resume;
    if (resume) {
      if (resume.params.length !== prepared.problem.layout.count) {
        distiller.destroy();
        throw new RangeError(`the saved state has ${resume.params.length} parameters, this model ${prepared.problem.layout.count}`);
      }
      await distiller.setParameters(resume.params);
      distiller.setMoments(resume.moments);
      distiller.step = resume.step;
      distiller.lambda = resume.lambda;
    }
    return session;
  }

  get step(): number {
    return this.distiller.step;
  }

  /** Runs on from the current step to settings.steps (or until stopped); curves grow as steps are logged. */
  async run(hooks: DistillRunHooks = {}): Promise<{ finished: boolean }> {
    const start = performance.now();
    try {
      const result = await runDistillation(this.distiller, this.order, this.input.settings, {
        ...hooks,
        onLambda: async (measured) => {
          this.lambdaMeasured = measured;
          await hooks.onLambda?.(measured);
        },
        onLog: async (entries: DistillLogEntry[]) => {
          appendCurves(this.curves, entries);
          await hooks.onLog?.(entries);
        },
      });
      this.finished = result.finished;
      return result;
    } finally {
      this.seconds += (performance.now() - start) / 1000;
    }
  }

  /** The resumable state (parameters and moments read from the GPU). */
  async state(): Promise<DistillState> {
    return {
      step: this.distiller.step,
      lambda: this.distiller.lambda ?? 0,
      settings: this.input.settings,
      params: await this.distiller.getParameters(),
      moments: await this.distiller.getMoments(),
    };
  }

  /**
   * The distilled folder's files (same layout as the student's), the checkpoint they open as, and how many pruned
   * weights read back from them as anything but exactly 0 (must be 0).
   */
  async distilledModel(name: string): Promise<{ files: FolderFile[]; checkpoint: Checkpoint; nonzeroPruned: number }> {
    const { problem, placements } = this.prepared;
    const params = await this.distiller.getParameters();
    const files = await distilledFolderFiles(this.input.student, placements, params, problem.trainable);
    const checkpoint = await openCheckpoint(memoryFolder(name, files));
    const readBack = await readFlatParameters(checkpoint, problem.layout);
    return { files, checkpoint, nonzeroPruned: pruneViolations(problem.kept, readBack) };
  }

  /** Perplexity of the dense teacher, the pruned student, or a distilled checkpoint (all with the student's masks). */
  async perplexity(which: Evaluated, tokens: ArrayLike<number>, options: PerplexityOptions, distilled?: Checkpoint): Promise<PerplexityReport> {
    const checkpoint = which === 'dense' ? this.input.teacher : which === 'pruned' ? this.input.student : distilled;
    if (!checkpoint) throw new Error('perplexity of the distilled model needs its checkpoint (distilledModel)');
    return checkpointPerplexity(this.ctx, checkpoint, which === 'dense' ? null : this.prepared.masks, tokens, options);
  }

  destroy(): void {
    this.distiller.destroy();
  }
}
