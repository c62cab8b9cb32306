/**
 * A training run on one GpuContext: parameters and AdamW state on the GPU, one submit per optimizer step
 * (forward, backward, clipping, AdamW, refreshed transposed copies), no readback per step: the step's mean loss and
 * gradient norm go to a ring of slots read every few steps. Runs wherever WebGPU does (no Node APIs): the Node
 * driver (scripts/train-default.ts, `moe-lab train`) only feeds batches and writes files.
 */
import type { ParamLayout } from '../../engine/train/config.ts';
import { positionsById } from '../../engine/train/data.ts';
import { ropeTable } from '../../engine/train/rope-table.ts';
import type { GpuContext } from '../context.ts';
import type { Recorder } from '../recorder.ts';
import { recordAdamW, type AdamWSettings } from '../kernels/train/adamw.ts';
import { recordTrainBackward } from './backward.ts';
import { LOG_SLOTS, stepShape, TrainBuffers } from './buffers.ts';
import { recordTrainForward } from './forward.ts';
import { recordTranspose } from '../kernels/train/transpose.ts';

export type OptimizerSettings = Omit<AdamWSettings, 'lr'>;

export interface StepLog {
  step: number;
  loss: number;
  gradNorm: number;
}

export interface RoutingCounts {
  /** [L][E] assignments per expert, summed over the evaluated tokens (K per token). */
  assignments: number[][];
  /** [L][E] sum over tokens of the router probability p(e). */
  probability: number[][];
  tokens: number;
}

export class GpuTrainer {
  readonly buffers: TrainBuffers;
  /** Optimizer steps taken (the next step is step + 1). */
  step = 0;
  private pendingLogs: number[] = [];

  constructor(
    readonly ctx: GpuContext,
    readonly layout: ParamLayout,
    readonly windows: number,
    readonly auxCoef: number,
    readonly optimizer: OptimizerSettings,
  ) {
    const subgroupMin = (ctx.adapter as GPUAdapter & { info?: { subgroupMinSize?: number } }).info?.subgroupMinSize ?? 0;
    if (!ctx.caps.features.subgroups || subgroupMin < 8) {
      throw new Error(
        `training needs the WebGPU 'subgroups' feature with subgroups of at least 8 invocations (this adapter: ${ctx.caps.features.subgroups ? `min size ${subgroupMin}` : 'no subgroups'})`,
      );
    }
    this.buffers = new TrainBuffers(ctx, layout, stepShape(layout, windows));
    const c = layout.config;
    ctx.write(this.buffers.ropeTable, ropeTable(c.contextLength, c.hiddenSize / c.numHeads, c.ropeTheta));
  }

  /** Uploads parameters [P] (flat layout) and refreshes the transposed copies. */
  async setParameters(values: Float32Array): Promise<void> {
    if (values.length !== this.layout.count) throw new RangeError(`expected ${this.layout.count} parameters, got ${values.length}`);
    this.ctx.write(this.buffers.params, values);
    const rec = this.ctx.record('transposes');
    this.recordTransposes(rec);
    await rec.submit();
  }

  async getParameters(): Promise<Float32Array> {
    return this.ctx.readF32(this.buffers.params);
  }

  /** AdamW moments [2P] (m then v), for resuming. */
  setMoments(values: Float32Array): void {
    this.ctx.write(this.buffers.moments, values);
  }

  async getMoments(): Promise<Float32Array> {
    return this.ctx.readF32(this.buffers.moments);
  }

  async getGradients(): Promise<Float32Array> {
    return this.ctx.readF32(this.buffers.grads);
  }

  private recordTransposes(rec: Recorder): void {
    for (const t of this.layout.tensors) {
      if (t.transpose) recordTranspose(rec, t.transpose, this.buffers.params, t.offset, this.buffers.paramsT, t.offset);
    }
  }

  private writeBatch(ids: Uint32Array, targets: Uint32Array, withOrder: boolean): void {
    const { T, V } = this.buffers.shape;
    if (ids.length !== T || targets.length !== T) throw new RangeError(`a batch has ${T} tokens (got ${ids.length} ids, ${targets.length} targets)`);
    this.ctx.write(this.buffers.ids, ids);
    this.ctx.write(this.buffers.targets, targets);
    if (withOrder) {
      const { order, starts } = positionsById(ids, V);
      this.ctx.write(this.buffers.embedOrder, order);
      this.ctx.write(this.buffers.embedStarts, starts);
    }
  }

  /** Forward and backward only: gradients of the batch in `grads` (tests, gradient checks). */
  async computeGradients(ids: Uint32Array, targets: Uint32Array): Promise<void> {
    this.writeBatch(ids, targets, true);
    const rec = this.ctx.record('gradients');
    recordTrainForward(rec, this.buffers, { gradient: true, lossSlot: 0 });
    recordTrainBackward(rec, this.buffers, this.auxCoef);
    await rec.submit();
  }

  /** One optimizer step at learning rate `lr` on a batch; submitted, not awaited on the GPU. */
  async trainStep(ids: Uint32Array, targets: Uint32Array, lr: number): Promise<void> {
    this.writeBatch(ids, targets, true);
    const slot = this.step % LOG_SLOTS;
    const rec = this.ctx.record('train step');
    recordTrainForward(rec, this.buffers, { gradient: true, lossSlot: slot });
    recordTrainBackward(rec, this.buffers, this.auxCoef);
    const b = this.buffers;
    recordAdamW(rec, this.layout.count, this.layout.decayEnd, this.step + 1, { ...this.optimizer, lr }, b.grads, b.params, b.moments, b.adamStats);
    rec.copy(b.adamStats, 0, b.sums, (LOG_SLOTS + slot) * 4, 4);
    this.recordTransposes(rec);
    await rec.submit();
    this.step++;
    this.pendingLogs.push(this.step);
  }

  /** Losses and gradient norms of the steps since the last call (waits for the GPU). At most LOG_SLOTS steps apart. */
  async readLogs(): Promise<StepLog[]> {
    if (this.pendingLogs.length > LOG_SLOTS) throw new Error(`read the step logs at least every ${LOG_SLOTS} steps`);
    const sums = await this.ctx.readF32(this.buffers.sums, 0, 2 * LOG_SLOTS * 4);
    const logs = this.pendingLogs.map((step) => {
      const slot = (step - 1) % LOG_SLOTS;
      return { step, loss: sums[slot], gradNorm: sums[LOG_SLOTS + slot] };
    });
    this.pendingLogs = [];
    return logs;
  }

  /** Per-token next-token NLL [T] of one batch (no gradient): position t predicts targets[t]. */
  async tokenLosses(ids: Uint32Array, targets: Uint32Array): Promise<Float32Array> {
    this.writeBatch(ids, targets, false);
    const rec = this.ctx.record('token losses');
    recordTrainForward(rec, this.buffers, { gradient: false, lossSlot: 2 * LOG_SLOTS });
    await rec.submit();
    return this.ctx.readF32(this.buffers.tokenLoss);
  }

  /** Mean loss over evaluation batches (no gradient), and the routing counts of those tokens. */
  async evaluate(batches: Iterable<{ ids: Uint32Array; targets: Uint32Array }>): Promise<{ loss: number; tokens: number; routing: RoutingCounts }> {
    const { T, L, E } = this.buffers.shape;
    const assignments = Array.from({ length: L }, () => new Array<number>(E).fill(0));
    const probability = Array.from({ length: L }, () => new Array<number>(E).fill(0));
    let total = 0;
    let count = 0;
    for (const batch of batches) {
      this.writeBatch(batch.ids, batch.targets, false);
      const rec = this.ctx.record('evaluate');
      recordTrainForward(rec, this.buffers, { gradient: false, lossSlot: 2 * LOG_SLOTS });
      await rec.submit();
      const [loss] = await this.ctx.readF32(this.buffers.sums, 2 * LOG_SLOTS * 4, 4);
      const stats = await this.ctx.readF32(this.buffers.routerStats);
      for (let l = 0; l < L; l++) {
        for (let e = 0; e < E; e++) {
          probability[l][e] += stats[l * 2 * E + e] * T;
          assignments[l][e] += stats[l * 2 * E + E + e];
        }
      }
      total += loss;
      count++;
    }
    return { loss: count ? total / count : NaN, tokens: count * T, routing: { assignments, probability, tokens: count * T } };
  }

  destroy(): void {
    this.buffers.destroy();
  }
}
