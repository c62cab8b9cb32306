/**
 * The distilled model as a Hugging Face folder with the same layout as the pruned input: its config, tokenizer,
 * masks and prune report copied, every safetensors file byte for byte the input's except the routed experts of
 * the distilled layers, re-encoded from the distilled f32 values in their stored dtype and written through the
 * family's own expert tensors (per-expert or fused, the copy plan of src/engine/model/expert-layout.ts); pruned
 * weights encode to exact zeros. Plus an in-memory folder over such files, so the page can open the result as a
 * checkpoint without touching a disk.
 */
import { MemoryByteSource, type ByteSource } from '../io/byte-source.ts';
import { DTYPE_BYTES } from '../io/safetensors.ts';
import type { Checkpoint, ModelFolder } from '../model/checkpoint.ts';
import { planCanonicalExperts } from '../model/expert-layout.ts';
import { isKept } from '../model/mask-set.ts';
import { MASKS_FILE } from '../prune/masks-file.ts';
import { encodeWeights } from '../prune/packing.ts';

export interface FolderFile {
  path: string;
  bytes: Uint8Array;
}

/** Files of the input folder copied as they are, when present. */
const COPIED = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'model.safetensors.index.json',
  MASKS_FILE,
  'prune-report.json',
];

const WEIGHT_DTYPE = { F32: 'f32', F16: 'f16', BF16: 'bf16' } as const;

async function wholeFile(source: ByteSource): Promise<Uint8Array> {
  return (await source.read(0, await source.size())).slice();
}

/**
 * The distilled folder's files (without the distillation report, which the caller adds). `experts`: per distilled
 * MoE layer, its experts [P_l] f32 in the canonical layout (gate_up [E, 2I, H] then down [E, H, I]).
 */
export async function distilledFolderFiles(student: Checkpoint, experts: ReadonlyMap<number, Float32Array>): Promise<FolderFile[]> {
  const files: FolderFile[] = [];
  for (const path of COPIED) {
    const source = await student.folder.open(path);
    if (source) files.push({ path, bytes: await wholeFile(source) });
  }
  const bySource = new Map<string, Uint8Array>();
  for (const path of student.files) {
    const source = (await student.folder.open(path))!;
    const bytes = await wholeFile(source);
    bySource.set(source.name, bytes);
    files.push({ path, bytes });
  }
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = student.spec;
  for (const [layer, values] of experts) {
    for (const copy of planCanonicalExperts(student, layer).copies) {
      const { info, source } = copy.tensor;
      const size = DTYPE_BYTES[info.dtype];
      const dtype = WEIGHT_DTYPE[info.dtype as keyof typeof WEIGHT_DTYPE];
      const first = (copy.target === 'down' ? 2 * E * I * H : 0) + copy.targetOffset / size;
      const count = copy.byteLength / size;
      const encoded = encodeWeights(values.subarray(first, first + count), dtype);
      bySource.get(source.name)!.set(encoded.subarray(0, copy.byteLength), info.byteOffset + copy.sourceOffset);
    }
  }
  return files;
}

/** A read-only model folder over files in memory. */
export function memoryFolder(name: string, files: readonly FolderFile[]): ModelFolder {
  const byPath = new Map(files.map((f) => [f.path, f.bytes]));
  return {
    name,
    async open(path: string) {
      const bytes = byPath.get(path);
      return bytes ? new MemoryByteSource(`${name}/${path}`, bytes) : null;
    },
  };
}

/** Pruned weights (kept bit 0) whose value in `values` is not exactly +0 or -0: must be none. */
export function pruneViolations(kept: Uint32Array, values: Float32Array): number {
  let bad = 0;
  for (let i = 0; i < values.length; i++) if (!isKept(kept, i) && values[i] !== 0) bad++;
  return bad;
}
