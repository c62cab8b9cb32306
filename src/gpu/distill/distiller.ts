/**
 * Expert-wise knowledge distillation of a pruned model toward its dense model on one GpuContext (MoE-Pruner, Xie
 * et al. 2024, sec. 3.3; objective in src/engine/distill/reference.ts): loss = CE + lambda * sum over layers and
 * experts of MSE(student expert output, teacher expert output) on the rows the student routes to each expert.
 * The training kernels' forward and backward (src/gpu/train) run with MoE hooks: dropped experts masked out of the
 * router, the teacher experts and the MSE after each layer's experts, the MSE's gradient into the expert outputs
 * and, through the teacher, into the expert inputs. Masked AdamW then moves only trainable kept weights; pruned
 * weights stay exactly 0 with zero moments after every step. Parameters, moments and step stay on the GPU between
 * calls, so a page can pause and resume; no Node APIs.
 */
import { positionsById } from '../../engine/train/data.ts';
import type { DistillProblem } from '../../engine/distill/problem.ts';
import type { GpuContext } from '../context.ts';
import { GpuError } from '../errors.ts';
import type { Recorder } from '../recorder.ts';
import type { AdamWSettings } from '../kernels/train/adamw.ts';
import { recordTrainBackward, type MoeBackwardHooks } from '../train/backward.ts';
import { LOG_SLOTS, type TrainBuffers } from '../train/buffers.ts';
import { recordTrainForward, type MoeForwardHooks } from '../train/forward.ts';
import { GpuTrainer } from '../train/trainer.ts';
import { recordTranspose } from '../kernels/train/transpose.ts';
import { recordExpertGrad, recordExpertMse, recordExpertTotal } from '../kernels/distill/expert_mse.ts';
import { recordMaskedAdamW, recordMaskGradients, type MaskedAdamWBuffers } from '../kernels/distill/masked_adamw.ts';
import { recordRouterMask } from '../kernels/distill/router_mask.ts';
import { TeacherExperts } from './teacher.ts';

export type DistillOptimizer = Omit<AdamWSettings, 'lr'>;

export interface DistillStepLog {
  step: number;
  crossEntropy: number;
  expertLoss: number;
  /** crossEntropy + lambda * expertLoss */
  loss: number;
  /** Norm of the masked gradient before clipping. */
  gradNorm: number;
}

// Slots of the `logs` buffer: per-step CE, L_expert and gradient norm of a logging interval, then one evaluation.
const EXPERT_SLOT = LOG_SLOTS;
const NORM_SLOT = 2 * LOG_SLOTS;
const EVAL_SLOT = 3 * LOG_SLOTS;
// The evaluation's CE goes to the training buffers' evaluation slot.
const EVAL_CE_SLOT = 2 * LOG_SLOTS;

/** Training uses subgroup matmuls (shaders/train/matmul.wgsl): the same requirement as GpuTrainer. */
export function requireTrainingFeatures(ctx: GpuContext): void {
  const subgroupMin = (ctx.adapter as GPUAdapter & { info?: { subgroupMinSize?: number } }).info?.subgroupMinSize ?? 0;
  if (!ctx.caps.features.subgroups || subgroupMin < 8) {
    const has = ctx.caps.features.subgroups ? `subgroups of ${subgroupMin}` : 'no subgroups';
    throw new GpuError(
      'limits',
      `Distillation runs on the training kernels, which need the WebGPU 'subgroups' feature with subgroups of at least 8 invocations; this GPU adapter has ${has}.`,
    );
  }
}

export class GpuDistiller {
  readonly buffers: TrainBuffers;
  private readonly trainer: GpuTrainer;
  /** Optimizer steps taken. */
  step = 0;
  /** The MSE weight: set before the first step (run.ts ensureLambda measures it on the first batch). */
  lambda: number | null = null;
  private readonly teacher: TeacherExperts;
  private readonly mse: GPUBuffer; // [L, E]
  private readonly delta: GPUBuffer; // [R, H]
  private readonly logs: GPUBuffer; // [3 LOG_SLOTS + 1]
  private readonly optimizerBuffers: MaskedAdamWBuffers;
  private readonly enabled: (GPUBuffer | null)[];
  private readonly own: GPUBuffer[] = [];
  private pendingLogs: number[] = [];

  private constructor(
    readonly ctx: GpuContext,
    readonly problem: DistillProblem,
    readonly windows: number,
    readonly optimizer: DistillOptimizer,
  ) {
    const { layout } = problem;
    // The trainer owns the buffers, the rope table and parameter I/O; distillation records its own steps on them.
    this.trainer = new GpuTrainer(ctx, layout, windows, 0, optimizer);
    this.buffers = this.trainer.buffers;
    const { R, H, L, E } = this.buffers.shape;
    this.teacher = new TeacherExperts(ctx, layout, this.buffers.shape);
    const f32 = (label: string, count: number) => {
      const buffer = ctx.createBuffer(label, count * 4);
      this.own.push(buffer);
      return buffer;
    };
    this.mse = f32('expert mse', L * E);
    this.delta = f32('expert output delta', R * H);
    this.logs = f32('distill logs', 3 * LOG_SLOTS + 1);
    const b = this.buffers;
    this.optimizerBuffers = {
      grads: b.grads,
      weights: b.params,
      moments: b.moments,
      stats: b.adamStats,
      updateBits: f32('update bits', problem.update.length),
      keptBits: f32('kept bits', problem.kept.length),
    };
    this.enabled = problem.expertEnabled.map((enabled, l) => (enabled ? f32(`l${l} experts enabled`, E) : null));
  }

  /** Builds the distiller and uploads the student, the teacher's experts, the masks and the rope table. */
  static async create(ctx: GpuContext, problem: DistillProblem, windows: number, optimizer: DistillOptimizer): Promise<GpuDistiller> {
    requireTrainingFeatures(ctx);
    const { layout } = problem;
    if (problem.student.length !== layout.count || problem.teacher.length !== layout.count) {
      throw new RangeError(`expected ${layout.count} parameters (student ${problem.student.length}, teacher ${problem.teacher.length})`);
    }
    const d = new GpuDistiller(ctx, problem, windows, optimizer);
    try {
      ctx.write(d.optimizerBuffers.updateBits, problem.update);
      ctx.write(d.optimizerBuffers.keptBits, problem.kept);
      problem.expertEnabled.forEach((enabled, l) => enabled && ctx.write(d.enabled[l]!, Uint32Array.from(enabled)));
      await d.teacher.upload(problem.teacher);
      await d.setParameters(problem.student);
    } catch (error) {
      d.destroy();
      throw error;
    }
    return d;
  }

  /** Uploads parameters [P] (the kept mask applied, so pruned weights start at exactly 0) and their transposes. */
  async setParameters(values: Float32Array): Promise<void> {
    await this.trainer.setParameters(Float32Array.from(values, (v, i) => ((this.problem.kept[i >>> 5] >>> (i & 31)) & 1 ? v : 0)));
  }

  getParameters(): Promise<Float32Array> {
    return this.trainer.getParameters();
  }

  /** AdamW moments [2P] (m then v), for resuming. */
  setMoments(values: Float32Array): void {
    this.trainer.setMoments(values);
  }

  getMoments(): Promise<Float32Array> {
    return this.trainer.getMoments();
  }

  getGradients(): Promise<Float32Array> {
    return this.trainer.getGradients();
  }

  private forwardHooks(): MoeForwardHooks {
    const b = this.buffers;
    const { T, E, H, R } = b.shape;
    return {
      routerLogits: (rec, l) => {
        const enabled = this.enabled[l];
        if (enabled) recordRouterMask(rec, T, E, enabled, b.layers[l].routerLogits);
      },
      expertOutputs: (rec, l) => {
        this.teacher.recordForward(rec, b, l);
        recordExpertMse(rec, { experts: E, width: H, rows: R }, b.layers[l].table, b.layers[l].yRows, this.teacher.rows[l].y, this.mse, l * E, b.unused);
      },
    };
  }

  private backwardHooks(lambda: number): MoeBackwardHooks {
    const b = this.buffers;
    const { E, H, R } = b.shape;
    if (lambda === 0) return {};
    return {
      expertOutputGrad: (rec, l) =>
        recordExpertGrad(
          rec,
          { experts: E, width: H, rows: R },
          lambda,
          b.layers[l].table,
          b.layers[l].yRows,
          this.teacher.rows[l].y,
          b.scratch.dYRows,
          this.delta,
        ),
      expertInputGrad: (rec, l) => this.teacher.recordInputGrad(rec, b, l, this.delta),
    };
  }

  private writeBatch(ids: Uint32Array, targets: Uint32Array): void {
    const { T, V } = this.buffers.shape;
    if (ids.length !== T || targets.length !== T) throw new RangeError(`a batch has ${T} tokens (got ${ids.length} ids, ${targets.length} targets)`);
    this.ctx.write(this.buffers.ids, ids);
    this.ctx.write(this.buffers.targets, targets);
    const { order, starts } = positionsById(ids, V);
    this.ctx.write(this.buffers.embedOrder, order);
    this.ctx.write(this.buffers.embedStarts, starts);
  }

  /** Forward, L_expert into logs[expertSlot], backward of CE + lambda L_expert (no optimizer step). */
  private recordLossAndGradients(rec: Recorder, lambda: number, slot: number): void {
    const b = this.buffers;
    const { L, E } = b.shape;
    recordTrainForward(rec, b, { gradient: true, lossSlot: slot, moeHooks: this.forwardHooks() });
    recordExpertTotal(rec, this.mse, 0, L * E, this.logs, EXPERT_SLOT + slot, b.unused);
    rec.copy(b.sums, slot * 4, this.logs, slot * 4, 4);
    recordTrainBackward(rec, b, 0, this.backwardHooks(lambda));
  }

  /** CE and L_expert of one batch, without gradients. */
  async evaluateBatch(ids: Uint32Array, targets: Uint32Array): Promise<{ crossEntropy: number; expertLoss: number }> {
    this.writeBatch(ids, targets);
    const b = this.buffers;
    const { L, E } = b.shape;
    const rec = this.ctx.record('distill evaluate');
    recordTrainForward(rec, b, { gradient: false, lossSlot: EVAL_CE_SLOT, moeHooks: this.forwardHooks() });
    recordExpertTotal(rec, this.mse, 0, L * E, this.logs, EVAL_SLOT, b.unused);
    await rec.submit();
    const [crossEntropy] = await this.ctx.readF32(b.sums, EVAL_CE_SLOT * 4, 4);
    const [expertLoss] = await this.ctx.readF32(this.logs, EVAL_SLOT * 4, 4);
    return { crossEntropy, expertLoss };
  }

  /** Per-expert MSE [L, E] of the last forward. */
  async readExpertMse(): Promise<Float32Array> {
    return this.ctx.readF32(this.mse);
  }

  /** Gradients of CE + lambda L_expert in `grads`, masked as the optimizer would see them when `masked`. */
  async computeGradients(ids: Uint32Array, targets: Uint32Array, lambda: number, masked: boolean): Promise<void> {
    this.writeBatch(ids, targets);
    const rec = this.ctx.record('distill gradients');
    this.recordLossAndGradients(rec, lambda, 0);
    if (masked) recordMaskGradients(rec, this.problem.layout.count, this.optimizerBuffers);
    await rec.submit();
  }

  /** One optimizer step at learning rate `lr`; submitted, not awaited on the GPU. lambda must be set. */
  async trainStep(ids: Uint32Array, targets: Uint32Array, lr: number): Promise<void> {
    if (this.lambda === null) throw new Error('set lambda (measureLambda) before the first step');
    this.writeBatch(ids, targets);
    const slot = this.step % LOG_SLOTS;
    const b = this.buffers;
    const { layout } = this.problem;
    const rec = this.ctx.record('distill step');
    this.recordLossAndGradients(rec, this.lambda, slot);
    recordMaskedAdamW(rec, layout.count, layout.decayEnd, this.step + 1, { ...this.optimizer, lr }, this.optimizerBuffers);
    rec.copy(b.adamStats, 0, this.logs, (NORM_SLOT + slot) * 4, 4);
    for (const t of this.trainedTensors()) recordTranspose(rec, t.transpose!, b.params, t.offset, b.paramsT, t.offset);
    await rec.submit();
    this.step++;
    this.pendingLogs.push(this.step);
  }

  /** Tensors whose transposed copies change with a step. */
  private trainedTensors() {
    const { layout, trainable } = this.problem;
    const tensors = trainable === 'all' ? layout.tensors : layout.layers.flatMap((l) => [l.w13, l.w2]);
    return tensors.filter((t) => t.transpose);
  }

  /** Losses of the steps since the last call (waits for the GPU). At most LOG_SLOTS steps apart. */
  async readLogs(): Promise<DistillStepLog[]> {
    if (this.pendingLogs.length > LOG_SLOTS) throw new Error(`read the step logs at least every ${LOG_SLOTS} steps`);
    if (!this.pendingLogs.length) return [];
    const logs = await this.ctx.readF32(this.logs, 0, 3 * LOG_SLOTS * 4);
    const lambda = this.lambda ?? 0;
    const entries = this.pendingLogs.map((step) => {
      const slot = (step - 1) % LOG_SLOTS;
      const crossEntropy = logs[slot];
      const expertLoss = logs[EXPERT_SLOT + slot];
      return { step, crossEntropy, expertLoss, loss: crossEntropy + lambda * expertLoss, gradNorm: logs[NORM_SLOT + slot] };
    });
    this.pendingLogs = [];
    return entries;
  }

  destroy(): void {
    this.trainer.destroy();
    this.teacher.destroy();
    for (const buffer of this.own) buffer.destroy();
    this.own.length = 0;
  }
}
