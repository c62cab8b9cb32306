/**
 * A model's content hash, carried by share links so that a link opened later can tell whether it still points
 * at the same model. SHA-256 over config.json and every safetensors header, not the tensor data: a header fixes
 * each tensor's name, dtype, shape and byte range, so it changes with any re-export, re-quantization or
 * re-shaping, while hashing it costs a few kilobytes of reading instead of gigabytes.
 *
 * Definition (docs/ui.md shows the same in Python):
 *   sha256( bytes(config.json) || for each safetensors file f in `files` order (sorted shard names):
 *           the first 8 + N bytes of f, where N is f's little-endian u64 header length )
 * The edit of a weight value that keeps shapes and dtypes is NOT detected: that is the price of not reading data.
 */
import { ModelFileError } from '../errors.ts';
import type { ModelFolder } from '../model/checkpoint.ts';

/** Characters of the hash a share link carries: 64 bits are plenty to notice a different model. */
export const SHORT_HASH_LENGTH = 16;

async function requireFile(folder: ModelFolder, path: string) {
  const source = await folder.open(path);
  if (!source) throw new ModelFileError(`${folder.name}/${path}`, 'missing-file', 'file not found while hashing the model');
  return source;
}

/** Hex SHA-256 of config.json and the headers of `files` (the checkpoint's safetensors files, in its order). */
export async function modelContentHash(folder: ModelFolder, files: readonly string[]): Promise<string> {
  const parts: Uint8Array[] = [];
  const config = await requireFile(folder, 'config.json');
  parts.push(await config.read(0, await config.size()));
  for (const file of files) {
    const source = await requireFile(folder, file);
    const prefix = await source.read(0, 8);
    // The header was validated when the checkpoint was opened; the length is below 100 MB, so Number is exact.
    const headerLength = Number(new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true));
    parts.push(await source.read(0, 8 + headerLength));
  }
  // Web Crypto hashes one buffer, not a stream; a Blob joins the parts (a few kilobytes).
  return sha256Hex(new Uint8Array(await new Blob(parts as Uint8Array<ArrayBuffer>[]).arrayBuffer()));
}

export function shortHash(hash: string): string {
  return hash.slice(0, SHORT_HASH_LENGTH);
}

/** Hex SHA-256 through Web Crypto (browser, worker and Node 20 all have crypto.subtle). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
