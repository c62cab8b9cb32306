/**
 * Host for shaders/quant/dequantize.wgsl: symmetric per-group codes and scales into f32 values (then packed into
 * the model's dtype by sparsegpt/encode_weights).
 * CPU reference: `dequantizeReference` in src/engine/reference/quant/quantize.ts.
 */
import source from '../../../../shaders/quant/dequantize.wgsl';
import type { QuantBits } from '../../../engine/quantize/quantized-matrix.ts';
import { defineKernel, grid1d } from '../../kernel.ts';
import type { BufferBinding, Recorder } from '../../recorder.ts';

export const dequantizeKernel = defineKernel({ name: 'quant/dequantize', source });

/** Elements base .. base + count - 1 of codes (u32 words, a byte each) and scales ([elements / groupSize] f32) -> work f32. */
export function recordDequantize(
  rec: Recorder,
  buffers: { codes: BufferBinding; scales: BufferBinding; work: BufferBinding },
  range: { base: number; count: number },
  groupSize: number,
  bits: QuantBits,
): void {
  const { base, count } = range;
  rec.dispatch(dequantizeKernel, {
    bindings: buffers,
    params: { count, base, group_size: groupSize, bits },
    workgroups: grid1d(count, 256),
  });
}
