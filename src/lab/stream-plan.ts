/**
 * Streaming mode, as the page announces it before a model loads (docs/ui.md, "Streaming mode"): the weights exceed
 * the GPU memory budget (`streamsUnder`, the one rule the lab session also uses), so every pass reads each decoder
 * layer from the checkpoint again. What it will cost: the weight bytes, the memory (the budget), and the time to
 * read the weights once at a measured rate, an estimate that leaves the computing out.
 */
import type { StreamPlan } from '../api/engine.ts';
import { formatBytes } from '../engine/format-bytes.ts';
import type { RangeCachePlan, ReadMeter, StorageQuota } from '../engine/io/range-cache.ts';
import type { Checkpoint } from '../engine/model/checkpoint.ts';
import { checkpointWeightBytes, streamsUnder } from '../gpu/model/gpu-model.ts';

/** The plan when `checkpoint` streams under `budget`, else null. `meter`: reads so far (the rate); `cache`: remote weights' cache decision. */
export function streamPlanOf(checkpoint: Checkpoint, budget: number | null, meter: ReadMeter | null, cache: RangeCachePlan | null): StreamPlan | null {
  const weightBytes = checkpointWeightBytes(checkpoint);
  if (budget === null || !streamsUnder(budget, weightBytes)) return null;
  const layers = checkpoint.spec.numLayers;
  const rate = meter?.bytesPerSecond() ?? null;
  const read = meter ? meter.networkBytes + meter.cacheBytes : 0;
  const ms = meter ? meter.networkMs + meter.cacheMs : 0;
  return {
    weightBytes,
    budget,
    layers,
    layerBytes: Math.round(weightBytes / Math.max(1, layers)),
    readRate: rate === null ? null : { bytesPerSecond: rate, measured: `${formatBytes(read)} of the checkpoint read in ${Math.round(ms)} ms` },
    secondsPerPass: rate === null ? null : weightBytes / rate,
    cache: cache && { kept: cache.cache, message: cache.message },
  };
}

/** The browser's storage quota and usage (navigator.storage.estimate(), also in workers); null where there is none. */
export async function storageQuota(): Promise<StorageQuota | null> {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (!storage?.estimate) return null;
  try {
    const { quota, usage } = await storage.estimate();
    return quota === undefined ? null : { quota, usage: usage ?? 0 };
  } catch {
    return null;
  }
}

/** Sum of the safetensors files' sizes: an upper bound of the weight bytes, known before any header is read. */
export function safetensorsBytes(files: readonly { file: string; bytes: number }[]): number {
  return files.filter((f) => f.file.endsWith('.safetensors')).reduce((sum, f) => sum + f.bytes, 0);
}
