/**
 * Perplexity of one checkpoint (dense, pruned or distilled) the lab's standard way: uploaded as a GpuModel, the
 * pruning masks in force (dropped experts included) and src/gpu/eval/perplexity.ts over the same windows for all
 * three, so the report's numbers are those `moe-lab ppl` and the Evaluate panel give.
 */
import type { Checkpoint } from '../../engine/model/checkpoint.ts';
import type { MaskSet } from '../../engine/model/mask-set.ts';
import type { GpuContext } from '../context.ts';
import { evaluatePerplexity, type PerplexityOptions, type PerplexityReport } from '../eval/perplexity.ts';
import { GpuModel, streamsOn } from '../model/gpu-model.ts';
import { uploadMasks } from '../model/gpu-mask-set.ts';

export async function checkpointPerplexity(
  ctx: GpuContext,
  checkpoint: Checkpoint,
  masks: MaskSet | null,
  tokens: ArrayLike<number>,
  options: PerplexityOptions,
): Promise<PerplexityReport> {
  // Under a GPU memory budget the layers stream (the rule `moe-lab ppl` follows), with the same numbers.
  const model = await GpuModel.upload(ctx, checkpoint, { signal: options.signal, stream: streamsOn(ctx, checkpoint) });
  try {
    const gpuMasks = masks ? await uploadMasks(model, masks) : null;
    try {
      return await evaluatePerplexity(model, tokens, { ...options, masks: gpuMasks });
    } finally {
      gpuMasks?.destroy();
    }
  } finally {
    model.destroy();
  }
}
