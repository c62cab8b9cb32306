/**
 * Writing a MoE layer's routed experts back into a GpuModel after they were changed outside it (distillation,
 * src/gpu/distill): f32 values [P_l] in the canonical layout (src/engine/distill/layout.ts: gate_up [E, 2I, H],
 * down [E, H, I], then gpt_oss's biases gate_up [E, 2I] and down [E, H]), encoded into the model's buffer dtype
 * (f16 / bf16 round to nearest even, as the exported files do; gpt_oss's experts and all biases are f32 buffers)
 * and written over its buffers. The caller rounds values to the checkpoint's stored dtype first where the buffer
 * is wider (gpt_oss), so later forwards compute exactly what the exported checkpoint will.
 */
import type { ExpertParameterLayout } from '../../engine/distill/layout.ts';
import { encodeWeights } from '../../engine/prune/packing.ts';
import type { GpuModel } from './gpu-model.ts';

export function writeExperts(model: GpuModel, layer: number, values: Float32Array, layout: ExpertParameterLayout): void {
  const { experts, expertBias } = model.layers[layer] ?? {};
  if (!experts) throw new RangeError(`layer ${layer} has no routed experts`);
  if (values.length !== layout.count) throw new RangeError(`layer ${layer}: ${layout.count} expert parameters expected, got ${values.length}`);
  if (Boolean(expertBias) !== layout.count > layout.matrices) throw new RangeError(`layer ${layer}: expert biases in the model and in the values disagree`);
  for (const [matrix, part] of [
    [experts.gateUp, values.subarray(layout.gateUp, layout.down)],
    [experts.down, values.subarray(layout.down, layout.matrices)],
  ] as const) {
    model.ctx.write(matrix.buffer, encodeWeights(part, matrix.dtype));
  }
  if (expertBias) {
    model.ctx.write(expertBias.gateUp, values.slice(layout.gateUpBias, layout.downBias));
    model.ctx.write(expertBias.down, values.slice(layout.downBias, layout.count));
  }
}
