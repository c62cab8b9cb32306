/**
 * The distilled model as a Hugging Face folder with the same layout as the pruned input: its config, tokenizer,
 * masks and prune report copied, every safetensors file byte for byte the input's except the trained tensors,
 * re-encoded from the distilled f32 values in their stored dtype (pruned weights encode to exact zeros). Plus an
 * in-memory folder over such files, so the page can open the result as a checkpoint without touching a disk.
 */
import { MemoryByteSource, type ByteSource } from '../io/byte-source.ts';
import type { Checkpoint, ModelFolder } from '../model/checkpoint.ts';
import { isKept } from '../model/masks.ts';
import { MASKS_FILE } from './masks.ts';
import { writeTrainedPlacements, type Placement } from './params.ts';
import type { DistillTrainable } from './scope.ts';

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

async function wholeFile(source: ByteSource): Promise<Uint8Array> {
  return (await source.read(0, await source.size())).slice();
}

/** The distilled folder's files (without the distillation report, which the caller adds). */
export async function distilledFolderFiles(student: Checkpoint, all: Placement[], values: Float32Array, trainable: DistillTrainable): Promise<FolderFile[]> {
  const files: FolderFile[] = [];
  for (const path of COPIED) {
    const source = await student.folder.open(path);
    if (source) files.push({ path, bytes: await wholeFile(source) });
  }
  for (const path of student.files) {
    const source = (await student.folder.open(path))!;
    const bytes = await wholeFile(source);
    writeTrainedPlacements(bytes, source.name, all, values, trainable);
    files.push({ path, bytes });
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
