/**
 * The pruned model's masks for distillation. From masks.safetensors when the pruned folder has one (the format the
 * pruning export writes: `layers.{l}.{matrix}` keep-mask words as I32 bit patterns over the canonical matrix, and
 * `layers.{l}.expert_enabled` [E]), else derived from the zeros of the pruned weights — then a weight that is
 * exactly 0 in the dense model too counts as pruned, which is harmless (it stays 0, as it was). Flattened onto the
 * training kernels' parameters as two bitsets: `kept` (0 = pruned, held at 0) and `update` (trainable and kept).
 */
import { ModelFileError, quoted } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { readSafetensorsHeader } from '../io/safetensors.ts';
import { isKept, MATRIX_KEYS, maskWordCount, type MaskSet, type MatrixKey } from '../model/masks.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { ParamLayout } from '../train/config.ts';
import { isTrained, type Placement } from './params.ts';
import type { DistillTrainable } from './scope.ts';

export const MASKS_FILE = 'masks.safetensors';

/** Elements of a canonical matrix (src/engine/model/masks.ts), or null when the spec has no such matrix. */
export function canonicalMatrixElements(spec: MoeModelSpec, key: MatrixKey): number | null {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H, numHeads, numKvHeads, headDim: D } = spec;
  switch (key) {
    case 'experts.gate_up':
      return E * 2 * I * H;
    case 'experts.down':
      return E * H * I;
    case 'attn.q':
    case 'attn.o':
      return numHeads * D * H;
    case 'attn.k':
    case 'attn.v':
      return numKvHeads * D * H;
    case 'shared.gate_up':
    case 'shared.down':
      return spec.sharedExpert ? (key === 'shared.down' ? 1 : 2) * spec.sharedExpert.ffnSize * H : null;
  }
}

/** Reads masks.safetensors (format moe-lab-masks/1) for a model of `spec`, checking every tensor's name and size. */
export async function readMasksFile(source: ByteSource, spec: MoeModelSpec): Promise<MaskSet> {
  const file = source.name;
  const header = await readSafetensorsHeader(source);
  if (header.metadata.format !== 'moe-lab-masks/1') {
    throw new ModelFileError(file, 'bad-layout', `metadata.format is ${quoted(String(header.metadata.format))}, not moe-lab-masks/1`);
  }
  const masks: MaskSet = { layers: Array.from({ length: spec.numLayers }, () => null) };
  for (const info of header.tensors.values()) {
    const match = /^layers\.(\d+)\.(.+)$/.exec(info.name);
    const layer = match ? Number(match[1]) : -1;
    if (!match || layer >= spec.numLayers) throw new ModelFileError(file, 'bad-layout', `unexpected tensor ${quoted(info.name)} (layers.{0..${spec.numLayers - 1}}.<matrix>)`);
    if (info.dtype !== 'I32') throw new ModelFileError(file, 'bad-dtype', `tensor ${quoted(info.name)} is ${info.dtype}, not I32`);
    const words = new Uint32Array((await source.read(info.byteOffset, info.byteLength)).slice().buffer);
    const entry = (masks.layers[layer] ??= { matrices: {} });
    if (match[2] === 'expert_enabled') {
      if (words.length !== spec.numExperts) throw new ModelFileError(file, 'shape-mismatch', `${info.name} has ${words.length} entries, the model ${spec.numExperts} experts`);
      entry.expertEnabled = Uint8Array.from(words, (w) => (w ? 1 : 0));
      continue;
    }
    const key = match[2] as MatrixKey;
    const elements = MATRIX_KEYS.includes(key) ? canonicalMatrixElements(spec, key) : null;
    if (elements === null) throw new ModelFileError(file, 'bad-layout', `tensor ${quoted(info.name)}: this model has no matrix ${quoted(match[2])}`);
    if (words.length !== maskWordCount(elements)) {
      throw new ModelFileError(file, 'shape-mismatch', `${info.name} has ${words.length} words, ${elements} elements need ${maskWordCount(elements)}`);
    }
    entry.matrices[key] = words;
  }
  return masks;
}

const setBit = (bits: Uint32Array, i: number, on: boolean) => {
  if (on) bits[i >>> 5] |= 1 << (i & 31);
  else bits[i >>> 5] &= ~(1 << (i & 31));
};

/**
 * kept [ceil(P / 32)]: 1 except for pruned weights — those the masks prune, or with `masks` null those of a
 * prunable matrix (experts, attention) that are exactly 0 in `values`.
 */
export function keptBits(layout: ParamLayout, all: Placement[], masks: MaskSet | null, values: Float32Array): Uint32Array {
  const bits = new Uint32Array(maskWordCount(layout.count)).fill(0xffffffff);
  for (const p of all) {
    if (!p.mask) continue;
    const words = masks ? masks.layers[p.mask.layer]?.matrices[p.mask.key] : null;
    if (masks && !words) continue;
    for (let i = 0; i < p.count; i++) {
      const kept = words ? isKept(words, p.mask.canonicalStart + i) : values[p.flatOffset + i] !== 0;
      if (!kept) setBit(bits, p.flatOffset + i, false);
    }
  }
  return bits;
}

/** update [ceil(P / 32)]: kept and trained in `trainable` mode. */
export function updateBits(layout: ParamLayout, all: Placement[], kept: Uint32Array, trainable: DistillTrainable): Uint32Array {
  const bits = new Uint32Array(kept.length);
  for (const p of all) {
    if (!isTrained(p, trainable)) continue;
    for (let i = p.flatOffset; i < p.flatOffset + p.count; i++) if (isKept(kept, i)) setBit(bits, i, true);
  }
  return bits;
}

/** Number of pruned (kept = 0) parameters among the first `count`. */
export function countPruned(kept: Uint32Array, count: number): number {
  let pruned = 0;
  for (let i = 0; i < count; i++) if (!isKept(kept, i)) pruned++;
  return pruned;
}

/** Per layer, [E] 1 = enabled, or null when no expert of the layer is dropped. */
export function expertEnabledOf(masks: MaskSet | null, layers: number): (Uint8Array | null)[] {
  return Array.from({ length: layers }, (_, l) => {
    const enabled = masks?.layers[l]?.expertEnabled;
    return enabled && enabled.some((v) => !v) ? enabled : null;
  });
}
