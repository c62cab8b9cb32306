/**
 * The pruned model as a Hugging Face folder (`moe-lab prune --out`, docs/pruning.md): every
 * safetensors file of the input (one, or the shards of model.safetensors.index.json) with the same tensor names,
 * layout, dtype and order, pruned weights set to 0 (SparseGPT: the kept weights replaced by its updated ones);
 * config.json, generation_config.json and the tokenizer files copied byte for byte.
 *
 * Dropped experts: a Hugging Face model would still route to a zeroed expert (its router row is still there, and
 * these families have no router bias to push it out), so zeroing them is not the lab's function. The export
 * instead removes them: the expert tensors (per-expert ones renumbered 0..E-r-1 in order, fused ones shrunk to
 * E - r), the router rows, and num_experts / num_local_experts in config.json set to E - r. Softmax and top-K
 * over the kept experts' logits is exactly what the lab computes with the dropped logits at -inf (renormalizing
 * over the kept experts), for every routing rule, and expert ties still go to the lower (renumbered) index.
 * Without dropped experts the files keep the input's header bytes verbatim.
 *
 * Files stream tensor by tensor (fused expert tensors expert by expert), never a whole checkpoint in memory; each
 * input file is hashed (SHA-256) as it is read — its header and tensors are contiguous, so reading them in order
 * reads the whole file.
 */
import { ModelFileError } from '../errors.ts';
import { DTYPE_BYTES, readSafetensorsHeader, type TensorInfo } from '../io/safetensors.ts';
import { SHARD_INDEX, type Checkpoint } from '../model/checkpoint.ts';
import { zeroPrunedGptOss } from '../model/expert-layout.ts';
import type { MaskSet, MatrixKey } from '../model/mask-set.ts';
import { expertGroups } from '../prune/expert-drop.ts';
import { Sha256 } from './sha256.ts';
import type { NeuronStructure } from '../prune/neurons.ts';
import { exportedElements, keptBytes, keptRuns, neuronConfig, neuronTensor } from './neuron-export.ts';
import { exportedTensor, prunableTensorLayouts, type ExportedTensor, type Segment } from './tensor-plan.ts';

/** Copied when the input folder has them (tokenizer files, generation settings). */
export const COPIED_FILES = [
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
];

/** One file of an export, produced on demand. */
export interface ExportEntry {
  path: string;
  chunks(): AsyncIterable<Uint8Array>;
}

/** SHA-256 and size of one file. */
export interface FileHash {
  path: string;
  bytes: number;
  sha256: string;
}

export interface PrunedModelInput {
  checkpoint: Checkpoint;
  masks: MaskSet;
  /** A neuron pruning's kept neurons (neuron-export.ts): expert tensors shrink to I' and config.json says so. */
  neurons?: NeuronStructure | null;
  /** Replacement weights of a canonical matrix (SparseGPT's updated weights, model dtype), or null. */
  updatedWeights?: (layer: number, key: MatrixKey) => Promise<Uint8Array | null>;
}

/** Input files as they are read, hashed; filled while the export streams. */
export type SourceHashes = Map<string, FileHash>;

/** Largest piece a copied tensor is read in (keeps memory flat on multi-GB embeddings). */
const READ_PIECE = 64 << 20;

/** Experts dropped per MoE layer, from the masks' expertEnabled vectors. */
export function droppedExperts(masks: MaskSet): Map<number, number[]> {
  const out = new Map<number, number[]>();
  masks.layers.forEach((layer, l) => {
    const enabled = layer?.expertEnabled;
    if (enabled && enabled.includes(0))
      out.set(
        l,
        Array.from(enabled).flatMap((on, e) => (on ? [] : [e])),
      );
  });
  return out;
}

/** config.json with the expert count set to E - r (whichever of num_experts / num_local_experts / n_routed_experts it uses). */
export function prunedConfig(config: Record<string, unknown>, keptExperts: number): Record<string, unknown> {
  const out = { ...config };
  let found = false;
  for (const key of ['num_experts', 'num_local_experts', 'n_routed_experts']) {
    if (out[key] != null) {
      out[key] = keptExperts;
      found = true;
    }
  }
  if (!found) throw new RangeError('config.json names no expert count (num_experts, num_local_experts or n_routed_experts)');
  return out;
}

/** Zeroes the pruned elements of `bytes` (stored elements of `segment`, element size `size`) by the mask. */
function applyMask(bytes: Uint8Array, size: number, mask: Uint32Array, canonicalStart: number, count: number): void {
  for (let i = 0; i < count;) {
    const c = canonicalStart + i;
    // Whole kept words skip 32 elements at once.
    if ((c & 31) === 0 && i + 32 <= count && mask[c >>> 5] === 0xffffffff) {
      i += 32;
      continue;
    }
    if (!((mask[c >>> 5] >>> (c & 31)) & 1)) bytes.fill(0, i * size, (i + 1) * size);
    i++;
  }
}

/** The safetensors header of the exported tensors (data in the order given), padded like writeSafetensors. */
function headerBytes(tensors: { out: ExportedTensor; dtype: string }[], metadata: Record<string, string>, sizeOf: (t: ExportedTensor) => number): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const { out, dtype } of tensors) {
    const bytes = sizeOf(out);
    header[out.name] = { dtype, shape: out.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = new Uint8Array(8 + Math.ceil(json.byteLength / 8) * 8).fill(0x20);
  new DataView(padded.buffer).setBigUint64(0, BigInt(padded.byteLength - 8), true);
  padded.set(json, 8);
  return padded;
}

/** The exported form of one input safetensors file, streaming; hashes the input into `sources`. */
function safetensorsEntry(input: PrunedModelInput, file: string, sources: SourceHashes): ExportEntry {
  const { checkpoint, masks } = input;
  const dropped = droppedExperts(masks);
  return {
    path: file,
    async *chunks() {
      const source = await checkpoint.folder.open(file);
      if (!source) throw new ModelFileError(`${checkpoint.folder.name}/${file}`, 'missing-file', 'file not found while exporting');
      // U8: gpt_oss's MXFP4 blocks and scales (prunableTensorLayouts says whether this layout can be exported).
      const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
      const hash = new Sha256();
      const prefix = await source.read(0, 8 + header.headerLength);
      hash.update(prefix);
      const layouts = prunableTensorLayouts(checkpoint);
      const stored = [...header.tensors.values()].sort((a, b) => a.byteOffset - b.byteOffset);
      const neurons = input.neurons ?? null;
      const shrunk = (out: ExportedTensor | null) => (out && neurons ? neuronTensor(out, checkpoint.spec, neurons) : out);
      const plans = stored.map((info) => ({ info, out: shrunk(exportedTensor(info, layouts.get(info.name), dropped)) }));
      const sizeOf = (out: ExportedTensor, info: TensorInfo) => exportedElements(out, checkpoint.spec, neurons) * DTYPE_BYTES[info.dtype];
      if (dropped.size === 0 && !neurons) {
        yield prefix;
      } else {
        const kept = plans.filter((p) => p.out !== null).map((p) => ({ out: p.out!, dtype: p.info.dtype, info: p.info }));
        const byName = new Map(kept.map((k) => [k.out.name, k.info]));
        yield headerBytes(kept, header.metadata, (out) => sizeOf(out, byName.get(out.name)!));
      }
      // SparseGPT's updated weights, one layer at a time: a layer's tensors lie together in the file (per-expert
      // ones interleave gate_up and down), so entries of earlier layers are dropped when the next layer starts and
      // the export holds at most one layer's updated matrices, never the whole model's.
      const updated = new Map<string, Uint8Array | null>();
      let updatedLayer = -1;
      const updatedOf = async (layer: number, key: MatrixKey) => {
        if (layer !== updatedLayer) {
          updated.clear();
          updatedLayer = layer;
        }
        if (!updated.has(key)) updated.set(key, (await input.updatedWeights?.(layer, key)) ?? null);
        return updated.get(key)!;
      };
      for (const { info, out } of plans) {
        const size = DTYPE_BYTES[info.dtype];
        const layout = layouts.get(info.name);
        // Every stored segment is read (the input hash covers the whole file); the kept ones are written.
        const segments: Segment[] = layout?.segments ?? out!.segments;
        const keep = new Set(out?.segments ?? []);
        for (const segment of segments) {
          for (let at = 0; at < segment.count;) {
            // Prunable segments are read whole (one expert matrix); copied ones in bounded pieces.
            const count = segment.canonical ? segment.count : Math.min(segment.count - at, Math.max(1, Math.floor(READ_PIECE / size)));
            const bytes = await source.read(info.byteOffset + (segment.start + at) * size, count * size);
            hash.update(bytes);
            if (keep.has(segment)) {
              const out = await transformed(bytes, segment, size, masks, updatedOf);
              const runs = neurons ? keptRuns(segment, checkpoint.spec, neurons) : null;
              yield runs ? keptBytes(out, size, runs) : out;
            }
            at += count;
          }
        }
      }
      sources.set(file, { path: file, bytes: await source.size(), sha256: hash.hex() });
    },
  };
}

/** A segment's exported bytes: updated weights where SparseGPT gave them, pruned elements zeroed. */
async function transformed(
  bytes: Uint8Array,
  segment: Segment,
  size: number,
  masks: MaskSet,
  updatedOf: (layer: number, key: MatrixKey) => Promise<Uint8Array | null>,
): Promise<Uint8Array> {
  const canonical = segment.canonical;
  if (!canonical) return bytes;
  const mask = masks.layers[canonical.layer]?.matrices[canonical.key];
  if (!mask) return bytes;
  const out = bytes.slice();
  const updated = await updatedOf(canonical.layer, canonical.key);
  if (canonical.gptOss) {
    // gpt_oss experts map element by element (interleaved, transposed or MXFP4): zeros only, no updated weights.
    if (updated) throw new ModelFileError('export', 'unsupported', 'SparseGPT-updated gpt_oss experts cannot be exported yet (masks can)');
    zeroPrunedGptOss(out, size, canonical.gptOss, mask, canonical.start);
    return out;
  }
  if (updated) out.set(updated.subarray(canonical.start * size, (canonical.start + segment.count) * size));
  applyMask(out, size, mask, canonical.start, segment.count);
  return out;
}

/** A small input file copied as is (hashed as it is read), or transformed. */
export function copiedEntry(checkpoint: Checkpoint, path: string, sources: SourceHashes, transform?: (bytes: Uint8Array) => Uint8Array): ExportEntry {
  return {
    path,
    async *chunks() {
      const source = await checkpoint.folder.open(path);
      if (!source) throw new ModelFileError(`${checkpoint.folder.name}/${path}`, 'missing-file', 'file not found while exporting');
      const bytes = await source.read(0, await source.size());
      sources.set(path, { path, bytes: bytes.byteLength, sha256: new Sha256().update(bytes).hex() });
      yield transform ? transform(bytes) : bytes;
    },
  };
}

const jsonBytes = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

/**
 * The files of the pruned model folder, in writing order. Iterating an entry's chunks reads its input; input
 * hashes land in `sources` as each input file is finished.
 */
export async function prunedModelEntries(input: PrunedModelInput, sources: SourceHashes): Promise<ExportEntry[]> {
  const { checkpoint, masks } = input;
  // A GPTQ folder's Linears are read dequantized; writing them back in its packed layout is not implemented.
  if (checkpoint.gptq)
    throw new ModelFileError(checkpoint.folder.name, 'unsupported', 'pruned exports of a GPTQ checkpoint are not supported (prune the unquantized model)');
  const dropped = droppedExperts(masks);
  const counts = new Set([...dropped.values()].map((d) => d.length));
  if (counts.size > 1) throw new RangeError(`layers drop different numbers of experts (${[...counts].join(', ')}); config.json has one expert count`);
  const moeLayers = checkpoint.spec.moeLayers.filter(Boolean).length;
  if (dropped.size > 0 && dropped.size !== moeLayers)
    throw new RangeError(`experts are dropped in ${dropped.size} of ${moeLayers} MoE layers; config.json has one expert count`);
  const kept = checkpoint.spec.numExperts - ([...dropped.values()][0]?.length ?? 0);
  // Group-limited routing picks groups of E / n_group consecutive experts: the export keeps n_group, so every group
  // must lose the same number for each to stay one index range of the same experts (pipeline-settings.ts).
  const groups = expertGroups(checkpoint.spec);
  for (const [l, list] of dropped) {
    const perGroup = Array.from({ length: groups }, (_, g) => list.filter((e) => Math.floor((e * groups) / checkpoint.spec.numExperts) === g).length);
    if (new Set(perGroup).size > 1)
      throw new RangeError(`layer ${l} drops ${perGroup.join(', ')} experts from its ${groups} routing groups; n_group needs the same number from each`);
  }
  const neurons = input.neurons ?? null;
  const config = () => {
    const out = dropped.size ? prunedConfig(checkpoint.config, kept) : checkpoint.config;
    return neurons ? neuronConfig(out, checkpoint.spec, neurons.ffn) : out;
  };
  const entries: ExportEntry[] = [copiedEntry(checkpoint, 'config.json', sources, dropped.size || neurons ? () => jsonBytes(config()) : undefined)];
  for (const path of COPIED_FILES) if (await checkpoint.folder.open(path)) entries.push(copiedEntry(checkpoint, path, sources));
  for (const file of checkpoint.files) entries.push(safetensorsEntry(input, file, sources));
  if (await checkpoint.folder.open(SHARD_INDEX))
    entries.push(copiedEntry(checkpoint, SHARD_INDEX, sources, dropped.size || neurons ? (bytes) => prunedIndex(input, bytes) : undefined));
  return entries;
}

/** model.safetensors.index.json with the dropped experts' tensors gone, renamed ones renamed, total_size updated. */
function prunedIndex(input: PrunedModelInput, bytes: Uint8Array): Uint8Array {
  const { checkpoint, masks } = input;
  const dropped = droppedExperts(masks);
  const index = JSON.parse(new TextDecoder().decode(bytes)) as { metadata?: Record<string, unknown>; weight_map: Record<string, string> };
  const layouts = prunableTensorLayouts(checkpoint);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [name, shard] of Object.entries(index.weight_map)) {
    const info = checkpoint.tensors.get(name)?.info;
    if (!info) {
      weightMap[name] = shard;
      continue;
    }
    const out = exportedTensor(info, layouts.get(name), dropped);
    if (!out) continue;
    weightMap[out.name] = shard;
    total += exportedElements(out, checkpoint.spec, input.neurons ?? null) * DTYPE_BYTES[info.dtype];
  }
  return jsonBytes({ ...index, metadata: { ...index.metadata, total_size: total }, weight_map: weightMap });
}

/** Runs `entries` into `write` (one call per file, chunks in order), hashing what is written. */
export async function writeEntries(
  entries: readonly ExportEntry[],
  write: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  signal?: AbortSignal,
): Promise<FileHash[]> {
  const written: FileHash[] = [];
  for (const entry of entries) {
    signal?.throwIfAborted();
    const hash = new Sha256();
    let bytes = 0;
    async function* hashed() {
      for await (const chunk of entry.chunks()) {
        signal?.throwIfAborted();
        hash.update(chunk);
        bytes += chunk.byteLength;
        yield chunk;
      }
    }
    await write(entry.path, hashed());
    written.push({ path: entry.path, bytes, sha256: hash.hex() });
  }
  return written;
}

/** All of an entry's bytes in one array (for in-memory downloads of small models). */
export async function collectEntry(entry: ExportEntry): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of entry.chunks()) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
