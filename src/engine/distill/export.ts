/**
 * The distilled model as a Hugging Face folder with the same layout as the pruned input: its config, tokenizer,
 * masks and prune report copied, every safetensors file byte for byte the input's except the routed experts of
 * the distilled layers, re-encoded from the distilled f32 values in their stored dtype and written through the
 * family's own expert tensors (per-expert or fused, the copy plan of src/engine/model/expert-layout.ts; gpt_oss's
 * x @ W matrices with interleaved gate_up and their biases, gptOssStoredValues); pruned weights encode to exact zeros. Plus an in-memory folder over such files, so the page can open the result as a
 * checkpoint without touching a disk.
 */
import { ModelFileError } from '../errors.ts';
import { MemoryByteSource, type ByteSource } from '../io/byte-source.ts';
import { roundToDtype } from '../io/dtype-encoding.ts';
import { DTYPE_BYTES } from '../io/safetensors.ts';
import type { Checkpoint, ModelFolder } from '../model/checkpoint.ts';
import { planCanonicalExperts } from '../model/expert-layout.ts';
import { isKept } from '../model/mask-set.ts';
import { MASKS_FILE } from '../prune/masks-file.ts';
import { encodeWeights } from '../prune/packing.ts';
import { gateUpRow } from '../model/mxfp4.ts';
import type { GptOssExpertNames } from '../model/weights.ts';
import { expertParameterLayout } from './layout.ts';

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

/** The stored dtype of tensor `name` as a weight dtype (F32, F16, BF16). */
function storedDtype(checkpoint: Checkpoint, name: string) {
  const { info, source } = checkpoint.tensors.get(name)!;
  const dtype = WEIGHT_DTYPE[info.dtype as keyof typeof WEIGHT_DTYPE];
  if (!dtype) throw new ModelFileError(source.name, 'bad-dtype', `tensor ${name} is ${info.dtype}; distilled experts are written as F32, F16 or BF16`);
  return dtype;
}

/**
 * gpt_oss's stored expert tensors of one layer from its [P_l] values (canonical, src/engine/distill/layout.ts), by
 * tensor name: gate_up_proj [E, H, 2I] = x @ W with the columns interleaved (stored column 2j + p is canonical row
 * p I + j: gate, up, gate, ...), its bias [E, 2I] interleaved the same way, down_proj [E, I, H], its bias [E, H].
 * The inverse of readGptOssExperts (src/engine/model/expert-layout.ts).
 */
export function gptOssStoredValues(names: GptOssExpertNames, values: Float32Array, shape: { E: number; H: number; I: number }): Map<string, Float32Array> {
  const { E, H, I } = shape;
  const layout = expertParameterLayout({ ...shape, biases: true });
  const canonicalRow = (s: number) => gateUpRow(2 * I, s);
  const gateUp = new Float32Array(E * H * 2 * I);
  const gateUpBias = new Float32Array(E * 2 * I);
  const down = new Float32Array(E * I * H);
  for (let e = 0; e < E; e++) {
    for (let s = 0; s < 2 * I; s++) {
      const row = layout.gateUp + (e * 2 * I + canonicalRow(s)) * H;
      for (let h = 0; h < H; h++) gateUp[(e * H + h) * 2 * I + s] = values[row + h];
      gateUpBias[e * 2 * I + s] = values[layout.gateUpBias + e * 2 * I + canonicalRow(s)];
    }
    for (let h = 0; h < H; h++) for (let i = 0; i < I; i++) down[(e * I + i) * H + h] = values[layout.down + (e * H + h) * I + i];
  }
  return new Map([
    [names.gateUp, gateUp],
    [names.gateUpBias, gateUpBias],
    [names.down, down],
    [names.downBias, values.slice(layout.downBias, layout.count)],
  ]);
}

/**
 * Layer `layer`'s [P_l] values rounded to the dtypes the student stores them in (each part to its own tensor's), i.e.
 * what the distilled files will read back as: the write-back into a GpuModel whose buffers are wider than the files
 * (gpt_oss's f32 experts and biases) writes these, so the next layer trains on what the export holds.
 */
export function roundToStored(student: Checkpoint, layer: number, values: Float32Array): Float32Array {
  const names = student.names.layers[layer]?.experts;
  if (names?.layout !== 'gpt-oss') return roundToDtype(values, WEIGHT_DTYPE[planCanonicalExperts(student, layer).dtype as keyof typeof WEIGHT_DTYPE]);
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = student.spec;
  const layout = expertParameterLayout({ E, H, I, biases: true });
  const out = new Float32Array(values.length);
  const parts = [
    [layout.gateUp, layout.down, names.gateUp],
    [layout.down, layout.matrices, names.down],
    [layout.gateUpBias, layout.downBias, names.gateUpBias],
    [layout.downBias, layout.count, names.downBias],
  ] as const;
  for (const [from, to, name] of parts) out.set(roundToDtype(values.subarray(from, to), storedDtype(student, name)), from);
  return out;
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
    const names = student.names.layers[layer]?.experts;
    if (names?.layout === 'gpt-oss') {
      for (const [name, stored] of gptOssStoredValues(names, values, { E, H, I })) {
        const { info, source } = student.tensors.get(name)!;
        bySource.get(source.name)!.set(encodeWeights(stored, storedDtype(student, name)).subarray(0, info.byteLength), info.byteOffset);
      }
      continue;
    }
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
