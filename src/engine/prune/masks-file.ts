/**
 * masks.safetensors: a MaskSet on disk, to evaluate a pruning without exporting (`moe-lab ppl --masks`) and to ship
 * the masks beside an export. Format `moe-lab-masks/1`:
 *   layers.{l}.{key}        U8 [ceil(n / 8)]  packed keep bits over canonical matrix `key` of layer l
 *                                             (experts.gate_up, experts.down, attn.q|k|v|o, shared.gate_up|down;
 *                                             multi-head latent attention: attn.q_a|q_b|kv_a|kv_b, attn.q without a
 *                                             q LoRA, attn.o):
 *                                             bit (i & 7) of byte (i >> 3) = 1 when flat element i is kept, i.e. the
 *                                             little-endian bytes of the engine's u32 bitset words
 *   layers.{l}.expert_enabled  U8 [E]         1 = kept, 0 = dropped (only for layers with dropped experts)
 * Metadata: format, `layers.{l}.{key}.elements` = n for every mask, and whatever the writer adds (model hash,
 * method). A missing matrix is dense. The reader checks every name, shape and element count against the model.
 */
import { ModelFileError } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { readSafetensorsHeader, writeSafetensors, type SafetensorsHeader } from '../io/safetensors.ts';
import { MATRIX_KEYS, maskWordCount, type LayerMasks, type MaskSet, type MatrixKey } from '../model/mask-set.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import { canonicalElements, hasCanonicalMatrix } from './layer-plan.ts';

export const MASKS_FORMAT = 'moe-lab-masks/1';
/** Its name beside an export (`moe-lab prune --out`, the page's download) and in a pruned folder distillation reads. */
export const MASKS_FILE = 'masks.safetensors';

/** The first ceil(n / 8) little-endian bytes of a bitset's words. */
export function packMaskBytes(words: Uint32Array, elements: number): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(elements / 8));
  for (let b = 0; b < bytes.length; b++) bytes[b] = (words[b >>> 2] >>> (8 * (b & 3))) & 0xff;
  // Bits past the last element are 0 (the bitset convention), whatever the words held.
  if (elements & 7) bytes[bytes.length - 1] &= (1 << (elements & 7)) - 1;
  return bytes;
}

/** Bytes back into u32 words over `elements` (tail bits cleared). */
export function unpackMaskBytes(bytes: Uint8Array, elements: number): Uint32Array {
  const words = new Uint32Array(maskWordCount(elements));
  for (let b = 0; b < Math.ceil(elements / 8); b++) words[b >>> 2] |= bytes[b] << (8 * (b & 3));
  if (elements & 31) words[words.length - 1] &= (2 ** (elements & 31) - 1) >>> 0;
  return words;
}

/** Serializes `masks` (for a model of `spec`) as masks.safetensors. */
export function masksToSafetensors(spec: MoeModelSpec, masks: MaskSet, metadata: Record<string, string> = {}): Uint8Array {
  const tensors: { name: string; dtype: 'U8'; shape: number[]; data: Uint8Array }[] = [];
  const meta: Record<string, string> = { ...metadata, format: MASKS_FORMAT };
  masks.layers.forEach((layer, l) => {
    if (!layer) return;
    for (const key of MATRIX_KEYS) {
      const words = layer.matrices[key];
      if (!words) continue;
      const elements = canonicalElements(spec, key);
      if (words.length !== maskWordCount(elements))
        throw new RangeError(`mask layers.${l}.${key} has ${words.length} words, ${elements} elements need ${maskWordCount(elements)}`);
      const data = packMaskBytes(words, elements);
      tensors.push({ name: `layers.${l}.${key}`, dtype: 'U8', shape: [data.length], data });
      meta[`layers.${l}.${key}.elements`] = String(elements);
    }
    if (layer.expertEnabled)
      tensors.push({ name: `layers.${l}.expert_enabled`, dtype: 'U8', shape: [layer.expertEnabled.length], data: Uint8Array.from(layer.expertEnabled) });
  });
  return writeSafetensors(tensors, meta);
}

/**
 * Reads masks.safetensors (its header, read with extraDtypes ['U8'], and all of its `bytes`) for a model of
 * `spec`; every tensor must name a matrix this model has, with the right element count.
 */
export function masksFromSafetensors(spec: MoeModelSpec, header: SafetensorsHeader, bytes: Uint8Array): MaskSet {
  const file = header.file;
  if (header.metadata.format !== MASKS_FORMAT) {
    throw new ModelFileError(
      file,
      'bad-header',
      `metadata format is ${JSON.stringify(header.metadata.format ?? null)}, expected ${MASKS_FORMAT} (not a masks file?)`,
    );
  }
  const layers: (LayerMasks | null)[] = spec.moeLayers.map(() => null);
  const layerOf = (l: number): LayerMasks => (layers[l] ??= { matrices: {} });
  for (const info of header.tensors.values()) {
    const match = /^layers\.(\d+)\.(.+)$/.exec(info.name);
    const l = match ? Number(match[1]) : -1;
    if (!match || l >= spec.numLayers || !spec.moeLayers[l]) {
      throw new ModelFileError(file, 'shape-mismatch', `tensor ${info.name} names no MoE layer of this model (${spec.numLayers} layers)`);
    }
    if (info.dtype !== 'U8' || info.shape.length !== 1)
      throw new ModelFileError(file, 'bad-dtype', `tensor ${info.name} is ${info.dtype} [${info.shape}], expected U8 [n]`);
    const data = bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength);
    if (match[2] === 'expert_enabled') {
      if (info.shape[0] !== spec.numExperts)
        throw new ModelFileError(file, 'shape-mismatch', `${info.name} has ${info.shape[0]} entries, the model ${spec.numExperts} experts`);
      if (data.some((v) => v > 1)) throw new ModelFileError(file, 'bad-header', `${info.name} holds values other than 0 and 1`);
      layerOf(l).expertEnabled = Uint8Array.from(data);
      continue;
    }
    const key = match[2] as MatrixKey;
    if (!MATRIX_KEYS.includes(key) || !hasCanonicalMatrix(spec, key)) {
      throw new ModelFileError(file, 'shape-mismatch', `tensor ${info.name}: ${match[2]} is not a prunable matrix of this model`);
    }
    const elements = canonicalElements(spec, key);
    const declared = header.metadata[`${info.name}.elements`];
    if (declared !== String(elements) || info.shape[0] !== Math.ceil(elements / 8)) {
      throw new ModelFileError(
        file,
        'shape-mismatch',
        `${info.name} covers ${declared ?? '?'} elements in ${info.shape[0]} bytes; this model's matrix has ${elements} (${Math.ceil(elements / 8)} bytes)`,
      );
    }
    layerOf(l).matrices[key] = unpackMaskBytes(data, elements);
  }
  return { layers };
}

/** Reads a whole masks.safetensors from `source` for a model of `spec` (masksFromSafetensors checks it). */
export async function readMasksFile(source: ByteSource, spec: MoeModelSpec): Promise<MaskSet> {
  const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
  return masksFromSafetensors(spec, header, await source.read(0, await source.size()));
}
