/**
 * Writing a MoE layer's routed experts back into a GpuModel after they were changed outside it (distillation,
 * src/gpu/distill): f32 values in the canonical layout, gate_up [E, 2I, H] and down [E, H, I], encoded into the
 * model's stored dtype (f16 / bf16 round to nearest even, as the exported files do) and written over its buffers,
 * so later forwards compute exactly what the exported checkpoint will.
 */
import { encodeWeights } from '../../engine/prune/packing.ts';
import type { GpuModel } from './gpu-model.ts';

export function writeExperts(model: GpuModel, layer: number, gateUp: Float32Array, down: Float32Array): void {
  const experts = model.layers[layer]?.experts;
  if (!experts) throw new RangeError(`layer ${layer} has no routed experts`);
  for (const [matrix, values] of [
    [experts.gateUp, gateUp],
    [experts.down, down],
  ] as const) {
    if (values.length !== matrix.elements) throw new RangeError(`${matrix.name}: ${matrix.elements} values expected, got ${values.length}`);
    model.ctx.write(matrix.buffer, encodeWeights(values, matrix.dtype));
  }
}
