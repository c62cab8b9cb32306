/**
 * Host for shaders/nn/norm.wgsl: RMSNorm / LayerNorm over rows (also the q/k norms), optional clip after.
 * CPU reference: `rmsNorm`, `layerNorm` in src/engine/reference/ops.ts.
 */
import workgroupReduce from '../../../../shaders/nn/workgroup_reduce.wgsl';
import source from '../../../../shaders/nn/norm.wgsl';
import type { NormKind } from '../../../engine/model/spec.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { Recorder } from '../../recorder.ts';

export const normKernel = defineKernel({ name: 'nn/norm', source, include: [workgroupReduce] });

export interface NormArgs {
  x: GPUBuffer; // [rows, width]
  y: GPUBuffer; // [rows, width], not x
  weight: GPUBuffer; // [width] f32
  bias?: GPUBuffer | null; // [width] f32 (LayerNorm)
  kind: NormKind;
  rows: number;
  width: number;
  eps: number;
  clip?: number | null;
}

/**
 * Threads for a kernel that reduces rows of `width` with nn/workgroup_reduce.wgsl: about `perThread` elements each,
 * as a power of two from 8 to 256 (what the reduction needs). Narrow rows (a head of 64-128, a hidden size of 96)
 * would leave most of a large workgroup idle, and each halving of the workgroup takes a barrier level off every
 * reduction (lavapipe: the default model's norms 4x faster at 8 threads than at 64, its NLL 2x at 64 than at 256).
 */
export function reductionWorkgroupSize(width: number, perThread: number): number {
  return Math.min(256, Math.max(8, 2 ** Math.ceil(Math.log2(width / perThread))));
}

export function recordNorm(rec: Recorder, a: NormArgs): void {
  const workgroupSize = reductionWorkgroupSize(a.width, 16);
  rec.dispatch(normKernel, {
    bindings: { x: a.x, weight: a.weight, bias: a.bias ?? a.weight, y: a.y },
    params: { rows: a.rows, width: a.width, eps: a.eps, clip: a.clip ?? 0 },
    constants: {
      WORKGROUP_SIZE: workgroupSize,
      NORM_KIND: a.kind === 'layer' ? 1 : 0,
      HAS_BIAS: Boolean(a.bias),
      CLIP: a.clip != null,
    },
    workgroups: grid1d(a.rows, 1),
  });
}
