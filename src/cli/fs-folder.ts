/** Node filesystem access for the CLI: a model folder on disk, read by range (never the whole file at once). */
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileError } from '../engine/errors.ts';
import { checkRange, type ByteSource } from '../engine/io/byte-source.ts';
import type { ModelFolder } from '../engine/model/checkpoint.ts';

/** A filesystem error as a one-line ModelFileError naming the file. */
function fsError(path: string, error: unknown): ModelFileError {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new ModelFileError(path, 'missing-file', 'no such file');
  return new ModelFileError(path, 'missing-file', `cannot read the file (${code ?? (error as Error)?.message ?? String(error)})`);
}

/** A file on disk read by range: opening a 3 GB checkpoint reads its header, not 3 GB. */
export class FileByteSource implements ByteSource {
  private sizeCache: number | null = null;

  constructor(readonly name: string) {}

  async size(): Promise<number> {
    try {
      this.sizeCache ??= (await stat(this.name)).size;
    } catch (error) {
      throw fsError(this.name, error);
    }
    return this.sizeCache;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, offset, length, await this.size());
    let handle;
    try {
      handle = await open(this.name, 'r');
    } catch (error) {
      throw fsError(this.name, error);
    }
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
    let info;
    try {
      info = await stat(full);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException)?.code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw fsError(full, error);
    }
    return info.isFile() ? new FileByteSource(full) : null;
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
