/**
 * One distillation from two opened checkpoints to a distilled folder and its report, shared by `moe-lab distill`
 * and the page's Recover step, on the inference stack (GpuModel, the forward of every family the lab loads):
 * the MoE layers one after the other, in order; for layer l each step runs the student's forward (masks in force,
 * the layers before l already distilled and written back in the model's dtype) through layer l on one batch of
 * windows, and at layer l's tap (src/gpu/model/taps.ts: its MoE input and the student's routing) takes one
 * optimizer step on that layer's experts (distiller.ts). When the layer's steps are done its f32 experts are
 * written into the model and the next layer begins. The run may stop between steps and continue (pause /
 * resume, or a saved state); batches being a function of (layer step, seed) it continues exactly. A model above
 * the GPU memory budget streams: the steps of layer l run layer l alone on its inputs, computed layer-major
 * (layer-inputs.ts), and its distilled experts become the layer's replacement weights in the mask set. No Node APIs.
 */
import { WindowOrder } from '../../engine/distill/data.ts';
import { distilledFolderFiles, memoryFolder, pruneViolations, roundToStored, type FolderFile } from '../../engine/distill/export.ts';
import { expertParameterLayout } from '../../engine/distill/layout.ts';
import { prepareDistillation, readExpertsF32, type DistillProblem } from '../../engine/distill/problem.ts';
import { appendCurves, emptyCurves, type DistillCurves, type DistillLayerSummary } from '../../engine/distill/report.ts';
import { distillSchedule, validateDistillSettings, type DistillSettings } from '../../engine/distill/settings.ts';
import type { DistillState } from '../../engine/distill/state.ts';
import { ModelFileError } from '../../engine/errors.ts';
import { openCheckpoint, type Checkpoint } from '../../engine/model/checkpoint.ts';
import { contextLimit } from '../../engine/model/spec.ts';
import { learningRate } from '../../engine/train/schedule.ts';
import type { GpuContext } from '../context.ts';
import type { PerplexityOptions, PerplexityReport } from '../eval/perplexity.ts';
import { writeExperts } from '../model/expert-writeback.ts';
import { GpuForward } from '../model/forward.ts';
import { GpuModel, streamsOn } from '../model/gpu-model.ts';
import { GpuMaskSet, uploadMasks } from '../model/gpu-mask-set.ts';
import { encodeWeights } from '../../engine/prune/packing.ts';
import type { MoeLayerTap } from '../model/taps.ts';
import { LayerDistiller, LOG_SLOTS } from './distiller.ts';
import { checkpointPerplexity } from './evaluate.ts';
import { StreamedLayerInputs } from './layer-inputs.ts';
import { weightBufferBytes } from '../weights.ts';

export interface DistillSessionInput {
  teacher: Checkpoint;
  student: Checkpoint;
  /** Training windows of S + 1 tokens each (src/engine/distill/data.ts; the inputs are the first S). */
  windows: readonly ArrayLike<number>[];
  settings: DistillSettings;
  /** Continue from a saved state (its layer, step, experts and moments). */
  resume?: DistillState | null;
  signal?: AbortSignal;
}

export interface DistillLogEntry {
  /** Step over all layers, from 1. */
  step: number;
  layer: number;
  expertLoss: number;
  gradNorm: number;
  lr: number;
  /** Seconds since this call of run() started. */
  seconds: number;
}

export interface DistillRunHooks {
  onLog?(entries: DistillLogEntry[]): void | Promise<void>;
  /** A layer is finished (its summary has mse_after). */
  onLayer?(summary: DistillLayerSummary): void | Promise<void>;
  /** Asked between steps; true stops after the current step (logs flushed). */
  shouldStop?(): boolean;
  signal?: AbortSignal;
}

export type Evaluated = 'dense' | 'pruned' | 'distilled';

export class DistillSession {
  readonly curves: DistillCurves;
  readonly layers: DistillLayerSummary[];
  /** Model layer -> distilled experts [P_l] f32, for every finished layer. */
  readonly experts = new Map<number, Float32Array>();
  /** Seconds spent in run() so far. */
  seconds = 0;
  /** Index into problem.layers of the layer under way (= their count when finished). */
  private layerIndex = 0;
  private distiller: LayerDistiller | null = null;
  private logged = 0;
  private destroyed = false;
  /** Steps of the layer under way when the session was destroyed (`step` still counts them). */
  private stepsAtDestroy = 0;

  private constructor(
    readonly ctx: GpuContext,
    readonly input: DistillSessionInput,
    readonly problem: DistillProblem,
    readonly order: WindowOrder,
    private readonly model: GpuModel,
    private readonly masks: GpuMaskSet | null,
    private readonly forward: GpuForward,
    /** A streamed model's layer inputs (layer-inputs.ts); null: resident, each step runs layers 0..l. */
    private readonly inputs: StreamedLayerInputs | null,
    /** A streamed model's forward for the last N mod B windows of the inputs' pass. */
    private readonly rest: GpuForward | null,
  ) {
    this.curves = input.resume ? structuredClone(input.resume.curves) : emptyCurves();
    this.layers = input.resume ? structuredClone(input.resume.layers) : [];
  }

  static async create(ctx: GpuContext, input: DistillSessionInput): Promise<DistillSession> {
    validateDistillSettings(input.settings);
    const order = new WindowOrder(input.windows, input.settings.batch, input.settings.seed);
    const { spec } = input.student;
    const file = `${input.student.folder.name}/config.json`;
    const limit = contextLimit(spec);
    if (order.window > limit)
      throw new ModelFileError(file, 'unsupported', `training windows of ${order.window} tokens are longer than the model's context ${limit}`);
    const problem = await prepareDistillation(input.teacher, input.student, input.signal);
    // The one streaming rule (the CLI's --gpu-memory, the page's budget): layer-major under the budget.
    const stream = streamsOn(ctx, input.student);
    if (stream && problem.layers.some((l) => hasExpertBiases(input.student, l.student))) {
      throw new ModelFileError(
        file,
        'unsupported',
        "gpt_oss's expert biases cannot follow a streamed layer: distill this model under a GPU memory budget (--gpu-memory, the page's gpumem) above its weight bytes",
      );
    }
    const model = await GpuModel.upload(ctx, input.student, { signal: input.signal, stream });
    let masks: GpuMaskSet | null = null;
    let forward: GpuForward | null = null;
    let rest: GpuForward | null = null;
    let inputs: StreamedLayerInputs | null = null;
    try {
      // Streamed: distilled experts become their layer's replacement weights in this set, so it always exists.
      masks = problem.masks ? await uploadMasks(model, problem.masks) : stream ? GpuMaskSet.forModel(model) : null;
      forward = new GpuForward(model, order.batch, order.window);
      if (stream) {
        const N = order.windows.length;
        rest = N % order.batch ? new GpuForward(model, N % order.batch, order.window) : null;
        inputs = new StreamedLayerInputs(model, masks!, order, forward, rest, Math.max(0, ...problem.layers.map((l) => replacementBytes(model, l.layer))));
      }
    } catch (error) {
      rest?.destroy();
      forward?.destroy();
      masks?.destroy();
      model.destroy();
      throw error;
    }
    const session = new DistillSession(ctx, input, problem, order, model, masks, forward, inputs, rest);
    try {
      if (input.resume) await session.resumeFrom(input.resume);
    } catch (error) {
      session.destroy();
      throw error;
    }
    return session;
  }

  private async resumeFrom(state: DistillState): Promise<void> {
    const layers = this.problem.layers;
    if (state.layerIndex > layers.length) throw new RangeError(`the saved state is at MoE layer ${state.layerIndex}, the model has ${layers.length}`);
    for (const [i, layer] of layers.entries()) {
      if (i > state.layerIndex) break;
      const values = state.experts.get(layer.layer);
      if (!values || values.length !== layer.student.length)
        throw new RangeError(`the saved state lacks layer ${layer.layer}'s ${layer.student.length} expert weights (has ${values?.length ?? 0})`);
      if (i < state.layerIndex) await this.finishLayer(layer.layer, values);
      else {
        const d = this.openLayer(i, values);
        d.setMoments(state.moments);
        d.step = state.step;
        this.logged = state.step;
      }
    }
    this.layerIndex = state.layerIndex;
  }

  /** Optimizer steps taken, over all layers. */
  get step(): number {
    return Math.min(this.layerIndex, this.problem.layers.length) * this.input.settings.steps + (this.distiller?.step ?? this.stepsAtDestroy);
  }

  /** Steps of a whole run: steps per layer x MoE layers. */
  get totalSteps(): number {
    return this.problem.layers.length * this.input.settings.steps;
  }

  get finished(): boolean {
    return this.layerIndex >= this.problem.layers.length;
  }

  private openLayer(index: number, student: Float32Array): LayerDistiller {
    const { spec } = this.model;
    const s = this.input.settings;
    const layer = this.problem.layers[index];
    this.distiller = LayerDistiller.create(
      this.ctx,
      {
        tokens: this.forward.tokens,
        hidden: spec.hiddenSize,
        experts: spec.numExperts,
        topK: spec.topK,
        expertFfn: spec.expertFfnSize,
        activation: spec.expertActivation,
        biases: hasExpertBiases(this.input.student, layer.student),
      },
      { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay, maxNorm: s.maxGradNorm },
      { teacher: layer.teacher, student, kept: layer.kept },
    );
    this.logged = 0;
    return this.distiller;
  }

  /**
   * Layer `layer`'s experts are final: into the model as the files will store them (a streamed model: as the
   * layer's replacement weights in the mask set, which go up and down with the layer) and the distilled set.
   */
  private async finishLayer(layer: number, values: Float32Array): Promise<void> {
    const rounded = roundToStored(this.input.student, layer, values);
    if (this.inputs) {
      const layout = expertParameterLayout({ ...expertShape(this.input.student), biases: false });
      const infos = this.model.matrixInfos[layer];
      await this.masks!.update(layer, (m) => {
        m.weights['experts.gate_up'] = encodeWeights(rounded.subarray(layout.gateUp, layout.down), infos['experts.gate_up']!.dtype);
        m.weights['experts.down'] = encodeWeights(rounded.subarray(layout.down, layout.matrices), infos['experts.down']!.dtype);
      });
    } else {
      const biases = Boolean(this.model.layers[layer].expertBias);
      writeExperts(this.model, layer, rounded, expertParameterLayout({ ...expertShape(this.input.student), biases }));
    }
    this.experts.set(layer, values);
  }

  /** The student's forward on batch `b` of the data, through layer `layer`, with `atTap` recorded at its MoE tap. */
  private async forwardThrough(layer: number, b: number, atTap: (tap: MoeLayerTap) => void): Promise<void> {
    if (this.inputs) {
      // Layers 0..layer-1 are final: their output for the batch's windows is in the stashes.
      const rec = this.ctx.record('distill step');
      this.inputs.gather(rec, this.order.windowsAt(b));
      this.forward.recordLayer(rec, layer, { masks: this.masks?.layers[layer] ?? null, onMoeLayer: atTap });
      await rec.submit();
      return;
    }
    const batch = this.order.batchAt(b);
    this.forward.writeIds(batch.ids);
    const rec = this.ctx.record('distill step');
    this.forward.recordEmbedding(rec);
    for (let l = 0; l <= layer; l++) {
      this.forward.recordLayer(rec, l, { masks: this.masks?.layers[l] ?? null, onMoeLayer: l === layer ? atTap : undefined });
    }
    await rec.submit();
  }

  /** L_l on the first batch with the current experts. */
  private async evaluateLayer(d: LayerDistiller, layer: number): Promise<number> {
    await this.forwardThrough(layer, 0, (tap) => d.recordEvaluate(tap));
    return (await d.readEvaluation()).loss;
  }

  /** Runs on from the current step to the end (or until stopped); the curves grow as steps are logged. */
  async run(hooks: DistillRunHooks = {}): Promise<{ finished: boolean }> {
    const start = performance.now();
    const s = this.input.settings;
    const schedule = distillSchedule(s);
    try {
      while (this.layerIndex < this.problem.layers.length) {
        const layer = this.problem.layers[this.layerIndex];
        const d = this.distiller ?? this.openLayer(this.layerIndex, layer.student);
        await this.inputs?.reach(layer.layer, hooks.signal);
        const base = this.layerIndex * s.steps;
        const flush = async () => {
          const entries = (await d.readLogs(this.logged)).map((e) => ({
            step: base + e.step,
            layer: layer.layer,
            expertLoss: e.loss,
            gradNorm: e.gradNorm,
            lr: learningRate(schedule, e.step),
            seconds: (performance.now() - start) / 1000,
          }));
          this.logged = d.step;
          if (!entries.length) return;
          appendCurves(this.curves, entries);
          await hooks.onLog?.(entries);
        };
        if (!this.layers.some((m) => m.layer === layer.layer)) {
          this.layers.push({ layer: layer.layer, steps: s.steps, mse_before: await this.evaluateLayer(d, layer.layer), mse_after: null, seconds: 0 });
        }
        const summary = this.layers.find((m) => m.layer === layer.layer)!;
        const layerStart = performance.now();
        while (d.step < s.steps) {
          if (hooks.signal?.aborted || hooks.shouldStop?.()) {
            await flush();
            summary.seconds += (performance.now() - layerStart) / 1000;
            return { finished: false };
          }
          const step = d.step + 1;
          await this.forwardThrough(layer.layer, step - 1, (tap) => d.recordStep(tap, learningRate(schedule, step)));
          if (step % Math.min(s.logEvery, LOG_SLOTS) === 0 || step === s.steps) await flush();
        }
        await flush();
        summary.mse_after = await this.evaluateLayer(d, layer.layer);
        summary.seconds += (performance.now() - layerStart) / 1000;
        const values = await d.getParameters();
        d.destroy();
        this.distiller = null;
        await this.finishLayer(layer.layer, values);
        this.layerIndex++;
        if (this.finished) await this.inputs?.release();
        await hooks.onLayer?.(summary);
      }
      return { finished: true };
    } finally {
      this.seconds += (performance.now() - start) / 1000;
    }
  }

  /**
   * Frees what a streamed run keeps between steps beside the layer under way's distiller: the layer inputs and the
   * layer held on the GPU (the next run() computes them again, to the same bits). Nothing for a resident model.
   */
  async suspend(): Promise<void> {
    await this.inputs?.release();
  }

  /** The resumable state (the layer under way's experts and moments read from the GPU). */
  async state(): Promise<DistillState> {
    const experts = new Map(this.experts);
    const layer = this.problem.layers[this.layerIndex];
    let moments: Float32Array = new Float32Array(0);
    if (layer) {
      experts.set(layer.layer, this.distiller ? await this.distiller.getParameters() : layer.student);
      moments = this.distiller ? await this.distiller.getMoments() : new Float32Array(2 * layer.student.length);
    }
    return {
      layerIndex: this.layerIndex,
      step: this.distiller?.step ?? 0,
      settings: this.input.settings,
      experts,
      moments,
      curves: structuredClone(this.curves),
      layers: structuredClone(this.layers),
    };
  }

  /** The layer under way's f32 experts, moments and gradients of the last step (tests). */
  get current(): LayerDistiller | null {
    return this.distiller;
  }

  /**
   * The distilled folder's files (same layout as the student's: the distilled layers' experts re-encoded in
   * place), the checkpoint they open as, and how many pruned weights read back from them as anything but exactly 0.
   */
  async distilledModel(name: string): Promise<{ files: FolderFile[]; checkpoint: Checkpoint; nonzeroPruned: number }> {
    const files = await distilledFolderFiles(this.input.student, this.experts);
    const checkpoint = await openCheckpoint(memoryFolder(name, files));
    let nonzeroPruned = 0;
    for (const layer of this.problem.layers) nonzeroPruned += pruneViolations(layer.kept, (await readExpertsF32(checkpoint, layer.layer)).values);
    return { files, checkpoint, nonzeroPruned };
  }

  /** Perplexity of the dense teacher, the pruned student, or a distilled checkpoint (all with the student's masks). */
  async perplexity(which: Evaluated, tokens: ArrayLike<number>, options: PerplexityOptions, distilled?: Checkpoint): Promise<PerplexityReport> {
    const checkpoint = which === 'dense' ? this.input.teacher : which === 'pruned' ? this.input.student : distilled;
    if (!checkpoint) throw new Error('perplexity of the distilled model needs its checkpoint (distilledModel)');
    return checkpointPerplexity(this.ctx, checkpoint, which === 'dense' ? null : this.problem.masks, tokens, options);
  }

  /** Frees the session's GPU state (again: nothing); distilledModel and perplexity still work after it. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.stepsAtDestroy = this.distiller?.step ?? 0;
    this.distiller?.destroy();
    this.distiller = null;
    this.inputs?.destroy();
    this.rest?.destroy();
    this.forward.destroy();
    this.masks?.destroy();
    this.model.destroy();
  }
}

/** Whether a layer's parameters [P_l] hold expert biases after the matrices (gpt_oss). */
function hasExpertBiases(checkpoint: Checkpoint, values: Float32Array): boolean {
  return values.length !== expertParameterLayout({ ...expertShape(checkpoint), biases: false }).count;
}

/** E, H, I of a checkpoint's routed experts (the parameter layout's shape). */
function expertShape(checkpoint: Checkpoint): { E: number; H: number; I: number } {
  const { numExperts: E, hiddenSize: H, expertFfnSize: I } = checkpoint.spec;
  return { E, H, I };
}

/** GPU bytes of layer l's distilled experts as replacement weights (the model's expert dtype). */
function replacementBytes(model: GpuModel, l: number): number {
  const infos = model.matrixInfos[l];
  return (['experts.gate_up', 'experts.down'] as const).reduce((sum, key) => {
    const info = infos[key];
    return sum + (info ? weightBufferBytes(info.dtype, info.elements) : 0);
  }, 0);
}
