/**
 * Honest accounting of a pruning (docs/pruning.md, "Accounting"): what the dense model and the pruned one need, in
 * bytes, counted from the model's shapes (countParameters in src/engine/model/spec.ts) times the weight dtype's size:
 * - `diskBytes`: the weights the exported folder stores (the safetensors data; headers, config and tokenizer left
 *   out). Masks save nothing here (pruned weights are stored as zeros); dropped experts and removed neurons do.
 * - `gpuBytes`: the weights the lab holds on the GPU to run that folder on its own.
 * - `readPerTokenBytes`: weights one token's forward reads: every matrix it multiplies with (attention, router,
 *   top-K experts, shared expert, dense MLPs, LM head) and one embedding row.
 * `masksInLab` is how the lab evaluates the pruning without an export: the dense weights plus the keep-mask bitsets
 * (one bit per masked weight, in u32 words), read as well (routed experts' masks: K of E experts per token).
 */
import type { MaskSet, MatrixKey } from '../model/mask-set.ts';
import { countParameters, type MoeModelSpec } from '../model/spec.ts';

export interface WeightBytes {
  diskBytes: number;
  gpuBytes: number;
  readPerTokenBytes: number;
}

export interface PruneAccounting {
  /** Bytes per weight of the checkpoint dtype (f32 4, f16 / bf16 2). */
  bytesPerWeight: number;
  dense: WeightBytes;
  /** The export, loaded on its own. */
  pruned: WeightBytes;
  /** The dense model with the masks applied on the fly (`ppl --masks`, the page). */
  masksInLab: Pick<WeightBytes, 'gpuBytes' | 'readPerTokenBytes'>;
  /** pruned / dense. */
  ratio: WeightBytes;
}

/** One mask buffer in the lab: its canonical key (or 'expert_enabled') and size in bytes. */
export interface MaskBuffer {
  key: MatrixKey | 'expert_enabled';
  bytes: number;
}

/** The buffers of a CPU mask set (bitsets in u32 words, enabled vectors as u32 per expert as on the GPU). */
export function maskBuffers(masks: MaskSet): MaskBuffer[] {
  return masks.layers.flatMap((layer) =>
    layer
      ? [
          ...Object.entries(layer.matrices).map(([key, bits]) => ({ key: key as MatrixKey, bytes: bits.byteLength })),
          ...(layer.expertEnabled ? [{ key: 'expert_enabled' as const, bytes: 4 * layer.expertEnabled.length }] : []),
        ]
      : [],
  );
}

/** Bytes of the weights a spec describes (see the file comment). */
export function weightBytes(spec: MoeModelSpec, bytesPerWeight: number): WeightBytes {
  const counts = countParameters(spec);
  const stored = counts.total * bytesPerWeight;
  // One embedding row, not the table; the LM head (tied or not) is read whole.
  const read = (counts.active - counts.embedding + spec.hiddenSize + (spec.tiedEmbeddings ? counts.embedding : 0)) * bytesPerWeight;
  return { diskBytes: stored, gpuBytes: stored, readPerTokenBytes: read };
}

/**
 * The accounting of `masks` on the dense model `spec`; `prunedSpec` is the exported model's spec (fewer experts,
 * or the smaller expert FFN size of a neuron pruning; the dense spec for masks alone).
 */
export function pruneAccounting(spec: MoeModelSpec, prunedSpec: MoeModelSpec, bytesPerWeight: number, masks: readonly MaskBuffer[]): PruneAccounting {
  const dense = weightBytes(spec, bytesPerWeight);
  const pruned = weightBytes(prunedSpec, bytesPerWeight);
  let maskBytes = 0;
  let maskReadBytes = 0;
  for (const { key, bytes } of masks) {
    maskBytes += bytes;
    // A routed expert's bitset is read for the K experts a token uses; the [E] enabled vector is read by the router.
    maskReadBytes += key.startsWith('experts.') ? (bytes * spec.topK) / spec.numExperts : bytes;
  }
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  return {
    bytesPerWeight,
    dense,
    pruned,
    masksInLab: { gpuBytes: dense.gpuBytes + maskBytes, readPerTokenBytes: dense.readPerTokenBytes + maskReadBytes },
    ratio: {
      diskBytes: ratio(pruned.diskBytes, dense.diskBytes),
      gpuBytes: ratio(pruned.gpuBytes, dense.gpuBytes),
      readPerTokenBytes: ratio(pruned.readPerTokenBytes, dense.readPerTokenBytes),
    },
  };
}
