/**
 * What a drop carried, as files with their paths inside the dropped folder. DataTransfer.files lists a dropped
 * folder as one useless entry, so folders are walked with the File and Directory Entries API
 * (webkitGetAsEntry, in every browser with WebGPU).
 */
import type { DroppedFile } from '../api/engine.ts';

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function childrenOf(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const all: FileSystemEntry[] = [];
  // readEntries answers in batches (100 in Chrome) until it returns an empty one.
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return all;
    all.push(...batch);
  }
}

async function walk(entry: FileSystemEntry, out: DroppedFile[]): Promise<void> {
  if (entry.isFile) {
    out.push({ path: entry.fullPath.replace(/^\//, ''), file: await fileOf(entry as FileSystemFileEntry) });
  } else if (entry.isDirectory) {
    for (const child of await childrenOf(entry as FileSystemDirectoryEntry)) await walk(child, out);
  }
}

export async function filesFromDataTransfer(data: DataTransfer): Promise<DroppedFile[]> {
  // Entries must be taken synchronously, before the first await: the DataTransfer empties after the event.
  const entries = [...data.items].map((item) => item.webkitGetAsEntry()).filter((e): e is FileSystemEntry => e !== null);
  if (!entries.length) return [...data.files];
  const out: DroppedFile[] = [];
  for (const entry of entries) await walk(entry, out);
  return out;
}
