/** Node filesystem access for the CLI: a model folder on disk, read by range (never the whole file at once). */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../engine/errors.ts';
import type { ByteSource } from '../engine/io/byte-source.ts';
import type { ModelFolder } from '../engine/model/checkpoint.ts';

export class FileByteSource implements ByteSource {
  private sizeCache: number | null = null;

  constructor(readonly name: string) {}

  async size(): Promise<number> {
    this.sizeCache ??= (await stat(this.name)).size;
    return this.sizeCache;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const size = await this.size();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
      throw new ModelFileError(this.name, 'truncated', `read of ${length} bytes at ${offset} is past the end of the file (${size} bytes)`);
    }
    const handle = await open(this.name, 'r');
    try {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        // fs reads are capped at 2 GiB per call.
        const { bytesRead } = await handle.read(out, done, Math.min(length - done, 1 << 30), offset + done);
        if (bytesRead === 0) throw new ModelFileError(this.name, 'truncated', `file ended at ${offset + done} while reading`);
        done += bytesRead;
      }
      return out;
    } finally {
      await handle.close();
    }
  }
}

export class DirectoryFolder implements ModelFolder {
  constructor(readonly name: string) {}

  async open(path: string): Promise<ByteSource | null> {
    const full = join(this.name, path);
    try {
      const info = await stat(full);
      return info.isFile() ? new FileByteSource(full) : null;
    } catch {
      return null;
    }
  }
}

/** The model folder at `dir`, refusing a path that is not a directory with a one-line reason. */
export async function directoryFolder(dir: string): Promise<DirectoryFolder> {
  let info;
  try {
    info = await stat(dir);
  } catch {
    throw new ModelFileError(dir, 'missing-file', 'no such folder');
  }
  if (!info.isDirectory()) throw new ModelFileError(dir, 'missing-file', 'not a folder (give the model folder, not a file in it)');
  return new DirectoryFolder(dir);
}
