/**
 * Expert-wise distillation of one MoE layer on the GPU (MoE-Pruner, Xie et al. 2024, sec. 3.3, layer-local; the
 * objective in src/engine/reference/distill-layer.ts): on the rows the student routes to each expert (x fixed, the
 * inference forward's tap, src/gpu/model/taps.ts),
 *   L_l = sum over experts e with n_e > 0 of MSE_e,  MSE_e = 1 / (n_e H) sum over e's rows ||E_e^s(x) - E_e^t(x)||^2
 * with E^s the pruned expert on f32 master weights and E^t the dense (teacher) expert, both SwiGLU:
 * E(x) = W_down (silu(W_gate x) * W_up x), or for gpt_oss W_down act(W_gate_up x + b_gu) + b_down with its clamped
 * SwiGLU (the clamps pass no gradient outside their range) and the biases trained too. A step: the layer's rows gathered per expert, student and teacher
 * forward, per-expert MSE, its gradient into the student's gate_up [E, 2I, H] and down [E, H, I] (x gets none),
 * masked AdamW: only kept weights move, pruned ones stay exactly +0 with zero moments. No subgroups, no float
 * atomics: every sum runs in a fixed order, so a run is the same bits on every call (and pause / resume continues
 * it exactly). Parameters [P_l] = gate_up, down (then the biases), src/engine/distill/layout.ts.
 */
import { expertParameterLayout, type ExpertParameterLayout } from '../../engine/distill/layout.ts';
import type { ExpertActivation } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import type { Recorder } from '../recorder.ts';
import type { MoeLayerTap } from '../model/taps.ts';
import { NORM_LANES, type AdamWSettings } from '../kernels/train/adamw.ts';
import { recordSwiGluBackward, recordSwiGluForward } from '../kernels/train/swiglu.ts';
import { recordExpertGrad, recordExpertMse, recordExpertTotal } from '../kernels/distill/expert_mse.ts';
import { recordExpertOuter, recordExpertRowsMatmul, type ExpertWeights } from '../kernels/distill/expert_matmul.ts';
import { recordExpertRows } from '../kernels/distill/expert_rows.ts';
import { recordExpertBias } from '../kernels/distill/expert_bias.ts';
import { recordMaskedAdamW, type MaskedAdamWBuffers } from '../kernels/distill/masked_adamw.ts';

export type DistillOptimizer = Omit<AdamWSettings, 'lr'>;

/** One MoE layer's shape: T tokens per forward, H hidden, E experts, K top-k, I expert FFN width. */
export interface LayerShape {
  tokens: number;
  hidden: number;
  experts: number;
  topK: number;
  expertFfn: number;
  /** The experts' activation (default SwiGLU) and whether they carry biases (gpt_oss; default none). */
  activation?: ExpertActivation;
  biases?: boolean;
}

/** Logged steps kept on the GPU between readbacks. */
export const LOG_SLOTS = 64;

/** Where gate_up, down and the biases sit in the layer's [P_l]. */
export const layerParameterLayout = (s: Pick<LayerShape, 'experts' | 'hidden' | 'expertFfn' | 'biases'>): ExpertParameterLayout =>
  expertParameterLayout({ E: s.experts, H: s.hidden, I: s.expertFfn, biases: Boolean(s.biases) });

export class LayerDistiller {
  /** Optimizer steps taken on this layer. */
  step = 0;
  private readonly own: GPUBuffer[] = [];
  private readonly weights: GPUBuffer; // [P] f32 master copy of the student's experts
  private readonly teacher: GPUBuffer; // [P] the dense experts
  private readonly grads: GPUBuffer; // [P]
  private readonly moments: GPUBuffer; // [2P]
  private readonly stats: GPUBuffer; // [1 + NORM_LANES]
  private readonly keptBits: GPUBuffer; // [ceil(P / 32)] 0 = pruned
  private readonly rows: { xRows: GPUBuffer; rowExpert: GPUBuffer; table: GPUBuffer };
  private readonly student: { gu: GPUBuffer; act: GPUBuffer; y: GPUBuffer };
  private readonly dense: { gu: GPUBuffer; act: GPUBuffer; y: GPUBuffer };
  private readonly delta: GPUBuffer; // [R, H] d L / d y_s
  private readonly dAct: GPUBuffer; // [R, I]
  private readonly dGu: GPUBuffer; // [R, 2I]
  private readonly mse: GPUBuffer; // [(LOG_SLOTS + 1) E]: per-step MSE, then the evaluation's
  /** [3 LOG_SLOTS + 1]: per slot the layer loss, the gradient norm; the evaluation's loss at the end. */
  private readonly logs: GPUBuffer;
  /** [R] ones: the bias gradients are the per-expert outer products with a column of ones (sums over e's rows). */
  private readonly ones: GPUBuffer | null;
  readonly layout: ExpertParameterLayout;
  readonly count: number;
  private readonly R: number;
  private kept: Uint32Array | null = null;

  constructor(
    readonly ctx: GpuContext,
    readonly shape: LayerShape,
    readonly optimizer: DistillOptimizer,
  ) {
    const { tokens: T, hidden: H, experts: E, topK: K, expertFfn: I } = shape;
    const buffer = (label: string, count: number) => {
      const b = ctx.createBuffer(label, Math.max(1, count) * 4);
      this.own.push(b);
      return b;
    };
    this.layout = layerParameterLayout(shape);
    const P = this.layout.count;
    const R = T * K;
    this.count = P;
    this.R = R;
    this.weights = buffer('distill student experts', P);
    this.teacher = buffer('distill teacher experts', P);
    this.grads = buffer('distill expert grads', P);
    this.moments = buffer('distill moments', 2 * P);
    this.stats = buffer('distill grad norm', 1 + NORM_LANES);
    this.keptBits = buffer('distill kept bits', Math.ceil(P / 32));
    this.rows = { xRows: buffer('distill x rows', R * H), rowExpert: buffer('distill row expert', R), table: buffer('distill table', 2 * E) };
    const side = (who: string) => ({ gu: buffer(`${who} gate-up`, R * 2 * I), act: buffer(`${who} act`, R * I), y: buffer(`${who} outputs`, R * H) });
    this.student = side('student');
    this.dense = side('teacher');
    this.delta = buffer('distill d outputs', R * H);
    this.dAct = buffer('distill d act', R * I);
    this.dGu = buffer('distill d gate-up', R * 2 * I);
    this.mse = buffer('distill expert mse', (LOG_SLOTS + 1) * E);
    this.logs = buffer('distill logs', 2 * LOG_SLOTS + 1);
    this.ones = shape.biases ? buffer('distill ones', R) : null;
    if (this.ones) ctx.write(this.ones, new Float32Array(R).fill(1));
  }

  /** Uploads the teacher's and the student's experts [P] f32 and the kept bits; pruned student weights become +0. */
  static create(
    ctx: GpuContext,
    shape: LayerShape,
    optimizer: DistillOptimizer,
    layer: { teacher: Float32Array; student: Float32Array; kept: Uint32Array },
  ): LayerDistiller {
    const d = new LayerDistiller(ctx, shape, optimizer);
    try {
      if (layer.teacher.length !== d.count || layer.student.length !== d.count || layer.kept.length !== Math.ceil(d.count / 32))
        throw new RangeError(
          `a layer has ${d.count} expert weights (teacher ${layer.teacher.length}, student ${layer.student.length}, kept words ${layer.kept.length})`,
        );
      ctx.write(d.teacher, layer.teacher);
      ctx.write(d.keptBits, layer.kept);
      d.kept = layer.kept;
      d.setParameters(layer.student);
    } catch (error) {
      d.destroy();
      throw error;
    }
    return d;
  }

  /** Student experts [P] (the kept mask applied: pruned weights start at exactly +0). */
  setParameters(values: Float32Array): void {
    if (values.length !== this.count) throw new RangeError(`a layer has ${this.count} expert weights, got ${values.length}`);
    const kept = this.kept!;
    this.ctx.write(
      this.weights,
      Float32Array.from(values, (v, i) => ((kept[i >>> 5] >>> (i & 31)) & 1 ? v : 0)),
    );
  }

  getParameters(): Promise<Float32Array> {
    return this.ctx.readF32(this.weights, 0, this.count * 4);
  }

  /** AdamW moments [2P] (m then v), for resuming. */
  setMoments(values: Float32Array): void {
    if (values.length !== 2 * this.count) throw new RangeError(`expected ${2 * this.count} moments, got ${values.length}`);
    this.ctx.write(this.moments, values);
  }

  getMoments(): Promise<Float32Array> {
    return this.ctx.readF32(this.moments, 0, 2 * this.count * 4);
  }

  getGradients(): Promise<Float32Array> {
    return this.ctx.readF32(this.grads, 0, this.count * 4);
  }

  /** Every kept expert weight trains (update = kept); pruned ones are held at +0. */
  private optimizerBuffers(): MaskedAdamWBuffers {
    return { grads: this.grads, weights: this.weights, moments: this.moments, stats: this.stats, updateBits: this.keptBits, keptBits: this.keptBits };
  }

  private matrices(buffer: GPUBuffer) {
    const { hidden: H, expertFfn: I } = this.shape;
    const gateUp: ExpertWeights = { buffer, offset: this.layout.gateUp, expert: 2 * I * H, n: H, k: 1 }; // W_e [2I, H]
    const down: ExpertWeights = { buffer, offset: this.layout.down, expert: H * I, n: I, k: 1 }; // W_e [H, I]
    return { gateUp, down };
  }

  /** y = E(x rows) with the experts in `weights`, through side.gu / side.act. */
  private recordExperts(rec: Recorder, weights: GPUBuffer, side: { gu: GPUBuffer; act: GPUBuffer; y: GPUBuffer }): void {
    const { experts: E, hidden: H, expertFfn: I, activation, biases } = this.shape;
    const w = this.matrices(weights);
    const { rowExpert } = this.rows;
    recordExpertRowsMatmul(rec, { rows: this.R, n: 2 * I, k: H, experts: E }, this.rows.xRows, w.gateUp, rowExpert, side.gu);
    if (biases) recordExpertBias(rec, { rows: this.R, n: 2 * I }, weights, this.layout.gateUpBias, rowExpert, side.gu);
    recordSwiGluForward(rec, this.R, I, side.gu, side.act, this.delta, activation);
    recordExpertRowsMatmul(rec, { rows: this.R, n: H, k: I, experts: E }, side.act, w.down, rowExpert, side.y);
    if (biases) recordExpertBias(rec, { rows: this.R, n: H }, weights, this.layout.downBias, rowExpert, side.y);
  }

  /** Rows, both experts' outputs and the per-expert MSE into mse[slot], L_l into logs[lossSlot]. */
  private recordLoss(rec: Recorder, tap: MoeLayerTap, mseSlot: number, lossSlot: number): void {
    const { experts: E, hidden: H, topK: K, tokens: T } = this.shape;
    if (tap.tokens !== T || tap.experts !== E || tap.hidden !== H || tap.topK !== K)
      throw new RangeError(`layer ${tap.layer}: the forward has ${tap.tokens} tokens, ${tap.experts} experts; the distiller ${T}, ${E}`);
    recordExpertRows(rec, { tokens: T, width: H, experts: E, topK: K, x: tap.input, sortedRows: tap.sortedRows, offsets: tap.expertOffsets }, this.rows);
    this.recordExperts(rec, this.weights, this.student);
    this.recordExperts(rec, this.teacher, this.dense);
    recordExpertMse(rec, { experts: E, width: H, rows: this.R }, this.rows.table, this.student.y, this.dense.y, this.mse, mseSlot * E);
    recordExpertTotal(rec, this.mse, mseSlot * E, E, this.logs, lossSlot);
  }

  /** Inside layer l's tap: the loss on this forward's rows into the evaluation slot (no step). */
  recordEvaluate(tap: MoeLayerTap): void {
    this.recordLoss(tap.recorder, tap, LOG_SLOTS, 2 * LOG_SLOTS);
  }

  /** Inside layer l's tap: gradients of L_l with respect to the student's experts (no optimizer step). */
  recordGradients(tap: MoeLayerTap, slot = this.step % LOG_SLOTS): void {
    const rec = tap.recorder;
    const { experts: E, hidden: H, expertFfn: I, activation } = this.shape;
    this.recordLoss(rec, tap, slot, slot);
    const w = this.matrices(this.weights);
    const { table, xRows, rowExpert } = this.rows;
    recordExpertGrad(rec, { experts: E, width: H, rows: this.R }, table, this.student.y, this.dense.y, this.delta);
    // down: d W_e [H, I] = sum over e's rows of delta^T act;  d act [R, I] = delta W_e.
    recordExpertOuter(rec, { m: H, n: I, experts: E }, this.delta, this.student.act, table, this.grads, w.down.offset);
    recordExpertRowsMatmul(rec, { rows: this.R, n: I, k: H, experts: E }, this.delta, { ...w.down, n: 1, k: I }, rowExpert, this.dAct);
    recordSwiGluBackward(rec, this.R, I, this.student.gu, this.dAct, this.dGu, activation);
    // gate_up: d W_e [2I, H] = sum over e's rows of d gu^T x.
    recordExpertOuter(rec, { m: 2 * I, n: H, experts: E }, this.dGu, xRows, table, this.grads, w.gateUp.offset);
    if (this.ones) {
      // d b_down,e [H] = sum over e's rows of delta; d b_gu,e [2I] = sum over e's rows of d gu.
      recordExpertOuter(rec, { m: H, n: 1, experts: E }, this.delta, this.ones, table, this.grads, this.layout.downBias);
      recordExpertOuter(rec, { m: 2 * I, n: 1, experts: E }, this.dGu, this.ones, table, this.grads, this.layout.gateUpBias);
    }
  }

  /** Inside layer l's tap: one optimizer step at learning rate `lr`. */
  recordStep(tap: MoeLayerTap, lr: number): void {
    const rec = tap.recorder;
    const slot = this.step % LOG_SLOTS;
    this.recordGradients(tap, slot);
    recordMaskedAdamW(rec, this.count, 0, this.step + 1, { ...this.optimizer, lr }, this.optimizerBuffers());
    rec.copy(this.stats, 0, this.logs, (LOG_SLOTS + slot) * 4, 4);
    this.step++;
  }

  /** Layer loss and gradient norm of the steps from..step (at most LOG_SLOTS back; waits for the GPU). */
  async readLogs(from: number): Promise<{ step: number; loss: number; gradNorm: number }[]> {
    if (this.step - from > LOG_SLOTS) throw new Error(`read the step logs at least every ${LOG_SLOTS} steps`);
    if (from >= this.step) return [];
    const logs = await this.ctx.readF32(this.logs, 0, 2 * LOG_SLOTS * 4);
    const out = [];
    for (let step = from + 1; step <= this.step; step++) {
      const slot = (step - 1) % LOG_SLOTS;
      out.push({ step, loss: logs[slot], gradNorm: logs[LOG_SLOTS + slot] });
    }
    return out;
  }

  /** The evaluation's layer loss and per-expert MSE [E] (waits for the GPU). */
  async readEvaluation(): Promise<{ loss: number; mse: Float32Array }> {
    const E = this.shape.experts;
    const [loss] = await this.ctx.readF32(this.logs, 2 * LOG_SLOTS * 4, 4);
    return { loss, mse: await this.ctx.readF32(this.mse, LOG_SLOTS * E * 4, E * 4) };
  }

  destroy(): void {
    for (const b of this.own) b.destroy();
    this.own.length = 0;
  }
}
