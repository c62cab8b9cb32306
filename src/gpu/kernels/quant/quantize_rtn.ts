/**
 * Host for shaders/quant/quantize_rtn.wgsl: round-to-nearest symmetric per-group codes and f16 scales of stacked
 * matrices read from a packed weight buffer (optionally through a keep-mask).
 * CPU reference: `quantizeRtnReference` in src/engine/reference/quant/quantize.ts.
 */
import source from '../../../../shaders/quant/quantize_rtn.wgsl';
import type { WeightDtype } from '../../../engine/model/spec.ts';
import type { QuantBits } from '../../../engine/quantize/quantized-matrix.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';
import { WEIGHT_DTYPE_CODE, WEIGHTS_WGSL } from '../../weights.ts';

export const quantizeRtnKernel = defineKernel({ name: 'quant/quantize_rtn', source, include: [WEIGHTS_WGSL] });

export interface RtnDispatch {
  /** Elements of the stack: Z * R * C. */
  elements: number;
  groupSize: number;
  bits: QuantBits;
  weights: { buffer: BufferBinding; dtype: WeightDtype; elementOffset: number };
  /** Keep bitset and the element of W[0, 0, 0] in it, or null: every weight kept. */
  mask: { buffer: BufferBinding; elementOffset: number } | null;
  /** [elements / 4] u32 (codes, a byte each) and [elements / groupSize] f32. */
  codes: BufferBinding;
  scales: BufferBinding;
}

export function recordQuantizeRtn(rec: Recorder, d: RtnDispatch): void {
  const groups = d.elements / d.groupSize;
  rec.dispatch(quantizeRtnKernel, {
    bindings: { weights: d.weights.buffer, mask: d.mask?.buffer ?? d.weights.buffer, codes: d.codes, scales: d.scales },
    params: { groups, group_size: d.groupSize, bits: d.bits, weight_base: d.weights.elementOffset, mask_base: d.mask?.elementOffset ?? 0 },
    constants: { WEIGHT_DTYPE: WEIGHT_DTYPE_CODE[d.weights.dtype], HAS_MASK: Boolean(d.mask) },
    workgroups: grid1d(groups, 64),
  });
}
