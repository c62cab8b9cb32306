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

export function recordNorm(rec: Recorder, a: NormArgs): void {
  // Narrow rows (a head of 64-128) would leave most of 256 threads idle.
  const workgroupSize = a.width <= 512 ? 64 : 256;
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
