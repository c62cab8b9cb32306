/**
 * Writes an export's files into a folder of the File System Access API (the page's "save to folder":
 * showDirectoryPicker in Chromium; also an OPFS folder from navigator.storage.getDirectory()). Each file is
 * written chunk by chunk as the export streams it (hf-folder.ts: a tensor, or one expert of a fused tensor, at a
 * time), so a model larger than the tab's memory reaches the disk without ever being held whole; the handle may
 * be posted to the worker, which writes there itself. Paths may hold '/' (folders are created).
 */
export function directoryWriter(folder: FileSystemDirectoryHandle): (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void> {
  return async (path, chunks) => {
    const parts = path.split('/');
    let dir = folder;
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
    const writable = await (await dir.getFileHandle(parts.at(-1)!, { create: true })).createWritable();
    try {
      for await (const chunk of chunks) await writable.write(chunk as Uint8Array<ArrayBuffer>);
      await writable.close();
    } catch (error) {
      // The partial file is discarded (the browser keeps its swap file until close), not left half-written.
      await writable.abort().catch(() => undefined);
      throw error;
    }
  };
}
