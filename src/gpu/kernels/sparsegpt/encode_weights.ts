/**
 * Host for shaders/sparsegpt/encode_weights.wgsl: f32 working weights into a packed weight buffer.
 * CPU reference: `encodeWeights` in src/engine/prune/packing.ts.
 */
import source from '../../../../shaders/sparsegpt/encode_weights.wgsl';
import type { WeightDtype } from '../../../engine/model/spec.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE } from '../../weights.ts';

export const encodeWeightsKernel = defineKernel({ name: 'sparsegpt/encode_weights', source });

/** work [count] f32 -> elements outBase .. outBase + count - 1 of `out` in `dtype`. */
export function recordEncodeWeights(rec: Recorder, work: BufferBinding, out: BufferBinding, dtype: WeightDtype, count: number, outBase: number): void {
  const invocations = dtype === 'f32' ? count : Math.floor((outBase + count - 1) / 2) - Math.floor(outBase / 2) + 1;
  rec.dispatch(encodeWeightsKernel, {
    bindings: { work, out },
    params: { count, out_base: outBase },
    constants: { WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[dtype] },
    workgroups: grid1d(invocations, 256),
  });
}
