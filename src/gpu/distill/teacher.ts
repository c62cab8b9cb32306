/**
 * The dense (teacher) experts inside the student's training step. Their weights sit in flat buffers with the
 * student's layout (only the expert tensors filled), plain and transposed as the training matmuls read them, and
 * never receive gradients. Forward: on layer l's student expert input rows xRows [R, H] (the rows the student routed
 * to each expert), y_t = w2_t (silu(w1_t x) * w3_t x). Backward: the loss term lambda MSE(y_s, y_t) also depends on
 * x through the teacher, d x += J_t(x)^T (-delta), delta = d (lambda MSE) / d y_s (expert_mse.wgsl).
 */
import type { ParamLayout } from '../../engine/train/config.ts';
import type { GpuContext } from '../context.ts';
import type { Recorder } from '../recorder.ts';
import type { StepShape, TrainBuffers } from '../train/buffers.ts';
import { recordMatmul, rowMajor } from '../kernels/train/matmul.ts';
import { recordSwiGluBackward, recordSwiGluForward } from '../kernels/train/swiglu.ts';
import { recordTranspose } from '../kernels/train/transpose.ts';

export class TeacherExperts {
  readonly weights: GPUBuffer; // [P], expert tensors only
  readonly transposed: GPUBuffer; // [P], expert tensors transposed per expert
  /** Per layer: gate/up pre-activations [R, 2I] (kept for the backward) and outputs [R, H]. */
  readonly rows: { gu: GPUBuffer; y: GPUBuffer }[];
  readonly act: GPUBuffer; // [R, I] scratch
  private readonly all: GPUBuffer[] = [];

  constructor(
    private readonly ctx: GpuContext,
    private readonly layout: ParamLayout,
    private readonly shape: StepShape,
  ) {
    const f32 = (label: string, count: number) => {
      const buffer = ctx.createBuffer(label, count * 4);
      this.all.push(buffer);
      return buffer;
    };
    const { R, H, I } = shape;
    this.weights = f32('teacher experts', layout.count);
    this.transposed = f32('teacher experts transposed', layout.count);
    this.rows = layout.layers.map((_, l) => ({ gu: f32(`l${l} teacher gate-up`, R * 2 * I), y: f32(`l${l} teacher outputs`, R * H) }));
    this.act = f32('teacher act', R * I);
  }

  /** Uploads the teacher's expert tensors from flat dense parameters [P] and transposes them. */
  async upload(dense: Float32Array): Promise<void> {
    const rec = this.ctx.record('teacher experts');
    for (const t of this.layout.layers.flatMap((l) => [l.w13, l.w2])) {
      this.ctx.write(this.weights, dense.subarray(t.offset, t.offset + t.size), t.offset * 4);
      recordTranspose(rec, t.transpose!, this.weights, t.offset, this.transposed, t.offset);
    }
    await rec.submit();
  }

  /** y_t [R, H] of layer l on the student's expert input rows. */
  recordForward(rec: Recorder, b: TrainBuffers, l: number): void {
    const { R, H, I, E } = this.shape;
    const w = this.layout.layers[l];
    const a = b.layers[l];
    const { gu, y } = this.rows[l];
    const grouped = { mode: 'rows' as const, groups: a.table, experts: E };
    recordMatmul(rec, {
      M: R,
      N: 2 * I,
      K: H,
      grouped,
      a: rowMajor(a.xRows, H),
      b: { ...rowMajor(this.transposed, 2 * I, w.w13.offset), outer: 2 * I * H },
      c: rowMajor(gu, 2 * I),
    });
    recordSwiGluForward(rec, R, I, gu, this.act, b.unused);
    recordMatmul(rec, {
      M: R,
      N: H,
      K: I,
      grouped,
      a: rowMajor(this.act, I),
      b: { ...rowMajor(this.transposed, H, w.w2.offset), outer: H * I },
      c: rowMajor(y, H),
    });
  }

  /** d xRows [R, H] += J_t^T (-delta [R, H]) of layer l, through the backward scratch dAct / dGu (free by then). */
  recordInputGrad(rec: Recorder, b: TrainBuffers, l: number, delta: GPUBuffer): void {
    const { R, H, I, E } = this.shape;
    const w = this.layout.layers[l];
    const d = b.scratch;
    const grouped = { mode: 'rows' as const, groups: b.layers[l].table, experts: E };
    recordMatmul(rec, {
      M: R,
      N: I,
      K: H,
      grouped,
      alpha: -1,
      a: rowMajor(delta, H),
      b: { ...rowMajor(this.weights, I, w.w2.offset), outer: H * I },
      c: rowMajor(d.dAct, I),
    });
    recordSwiGluBackward(rec, R, I, this.rows[l].gu, d.dAct, d.dGu);
    recordMatmul(rec, {
      M: R,
      N: H,
      K: 2 * I,
      grouped,
      accumulate: true,
      a: rowMajor(d.dGu, 2 * I),
      b: { ...rowMajor(this.weights, H, w.w13.offset), outer: 2 * I * H },
      c: rowMajor(d.dXRows, H),
    });
  }

  destroy(): void {
    for (const buffer of this.all) buffer.destroy();
    this.all.length = 0;
  }
}
