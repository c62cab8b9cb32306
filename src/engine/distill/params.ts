/**
 * A Mixtral checkpoint <-> the training kernels' flat f32 parameters (src/engine/train/config.ts layout), through
 * one list of placements: which elements of which stored tensor fill which flat range. Reading widens the stored
 * dtype to f32; writing encodes flat values back into the stored dtype in place of the input's bytes, so the
 * distilled folder has exactly the input's files, names, layout and dtype. Grouped-query k/v heads are repeated
 * into the flat layout's full multi-head k/v (head h reads key/value head floor(h / (heads / kv_heads)), as
 * transformers' repeat_kv does); they are frozen in that case, so nothing is ever written back through a repeat.
 */
import { DTYPE_BYTES } from '../io/safetensors.ts';
import type { Checkpoint, LocatedTensor } from '../model/checkpoint.ts';
import { planCanonicalExperts } from '../model/expert-layout.ts';
import type { MatrixKey } from '../model/masks.ts';
import { decodeWeights, encodeWeights } from '../prune/packing.ts';
import type { WeightDtype } from '../model/spec.ts';
import type { ParamLayout } from '../train/config.ts';
import type { DistillTrainable } from './scope.ts';

const WEIGHT_DTYPE = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const;

/** Elements [first, first + count) of a stored tensor are flat parameters [flatOffset, flatOffset + count). */
export interface Placement {
  tensor: LocatedTensor;
  first: number;
  count: number;
  flatOffset: number;
  /** Part of the routed experts (trained in both modes) or not (trained only with 'all'). */
  expert: boolean;
  /** A repeated grouped-query k/v head: read, never written back. */
  repeated: boolean;
  /** The pruning mask's canonical matrix and the element of it at `first` (masks.ts), for prunable matrices. */
  mask?: { layer: number; key: MatrixKey; canonicalStart: number };
}

/** Every placement of `checkpoint` into `layout` (shapes were checked by the loader and scope.ts). */
export function placements(checkpoint: Checkpoint, layout: ParamLayout): Placement[] {
  const { spec, names } = checkpoint;
  const { hiddenSize: H, headDim: D, numHeads, numKvHeads } = spec;
  const out: Placement[] = [];
  const located = (name: string): LocatedTensor => checkpoint.tensors.get(name)!;
  const whole = (name: string, flatOffset: number, mask?: Placement['mask']) => {
    const tensor = located(name);
    out.push({ tensor, first: 0, count: tensor.info.shape.reduce((a, b) => a * b, 1), flatOffset, expert: false, repeated: false, mask });
  };
  whole(names.embedding, layout.embed.offset);
  const groupSize = numHeads / numKvHeads;
  names.layers.forEach((n, l) => {
    const t = layout.layers[l];
    whole(n.inputNorm.weight, t.attnNorm.offset);
    whole(n.q.weight, t.qkv.offset, { layer: l, key: 'attn.q', canonicalStart: 0 });
    for (const [which, key, base] of [
      [n.k.weight, 'attn.k', H * H],
      [n.v.weight, 'attn.v', 2 * H * H],
    ] as const) {
      for (let h = 0; h < numHeads; h++) {
        const kvHead = Math.floor(h / groupSize);
        const first = kvHead * D * H;
        out.push({
          tensor: located(which),
          first,
          count: D * H,
          flatOffset: t.qkv.offset + base + h * D * H,
          expert: false,
          repeated: h % groupSize !== 0,
          mask: { layer: l, key, canonicalStart: first },
        });
      }
    }
    whole(n.o.weight, t.o.offset, { layer: l, key: 'attn.o', canonicalStart: 0 });
    whole(n.postAttentionNorm.weight, t.moeNorm.offset);
    whole(n.router!, t.router.offset);
    for (const copy of planCanonicalExperts(checkpoint, l).copies) {
      const size = DTYPE_BYTES[copy.tensor.info.dtype];
      const gateUp = copy.target === 'gateUp';
      const canonicalStart = copy.targetOffset / size;
      out.push({
        tensor: copy.tensor,
        first: copy.sourceOffset / size,
        count: copy.byteLength / size,
        flatOffset: (gateUp ? t.w13.offset : t.w2.offset) + canonicalStart,
        expert: true,
        repeated: false,
        mask: { layer: l, key: gateUp ? 'experts.gate_up' : 'experts.down', canonicalStart },
      });
    }
  });
  whole(names.finalNorm.weight, layout.finalNorm.offset);
  whole(names.lmHead!.weight, layout.lmHead.offset);
  return out;
}

function dtypeOf(p: Placement): WeightDtype {
  const dtype = WEIGHT_DTYPE[p.tensor.info.dtype as keyof typeof WEIGHT_DTYPE];
  if (!dtype) throw new RangeError(`${p.tensor.source.name}: tensor ${p.tensor.info.name} is ${p.tensor.info.dtype}, not a float weight`);
  return dtype;
}

/** The checkpoint's weights as flat f32 parameters [P]. */
export async function readFlatParameters(checkpoint: Checkpoint, layout: ParamLayout, signal?: AbortSignal): Promise<Float32Array> {
  const values = new Float32Array(layout.count);
  for (const p of placements(checkpoint, layout)) {
    signal?.throwIfAborted();
    const size = DTYPE_BYTES[p.tensor.info.dtype];
    const bytes = await p.tensor.source.read(p.tensor.info.byteOffset + p.first * size, p.count * size);
    values.set(decodeWeights(bytes, dtypeOf(p), p.count), p.flatOffset);
  }
  return values;
}

/** Whether distillation with `trainable` may change the placement's weights (and so writes them back). */
export function isTrained(p: Placement, trainable: DistillTrainable): boolean {
  return !p.repeated && (p.expert || trainable === 'all');
}

/**
 * Writes the trained placements of flat `values` into `fileBytes`, the whole safetensors file read from the source
 * named `sourceName` (as the checkpoint's tensors name it), encoded in each tensor's stored dtype. Returns how many
 * elements were written.
 */
export function writeTrainedPlacements(fileBytes: Uint8Array, sourceName: string, all: Placement[], values: Float32Array, trainable: DistillTrainable): number {
  let written = 0;
  for (const p of all) {
    if (!isTrained(p, trainable) || p.tensor.source.name !== sourceName) continue;
    const size = DTYPE_BYTES[p.tensor.info.dtype];
    const encoded = encodeWeights(values.subarray(p.flatOffset, p.flatOffset + p.count), dtypeOf(p));
    fileBytes.set(encoded.subarray(0, p.count * size), p.tensor.info.byteOffset + p.first * size);
    written += p.count;
  }
  return written;
}
