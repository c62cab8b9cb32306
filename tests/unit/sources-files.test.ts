/**
 * Dropped or picked files as a model folder: a dropped folder (webkitRelativePath), loose picked files (names),
 * explicit paths, a renamed lone safetensors file, and the errors for nothing or duplicates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelFileError } from '../../src/engine/errors.ts';
import { filesFolder } from '../../src/engine/io/files-folder.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { fixtureDir } from '../helpers/fixtures.ts';

const dir = fixtureDir('qwen3_moe');
const bytes = (file: string) => readFileSync(join(dir, file));

/** A File as a browser gives it for a dropped folder (webkitRelativePath is read-only there, so define it). */
function droppedFile(relativePath: string, data: Uint8Array): File {
  const file = new File([new Uint8Array(data)], relativePath.split('/').at(-1)!);
  Object.defineProperty(file, 'webkitRelativePath', { value: relativePath });
  return file;
}

describe('filesFolder', () => {
  it('opens a dropped folder, stripping its top folder, and names files as the user sees them', async () => {
    const folder = filesFolder([
      droppedFile('qwen3_moe/config.json', bytes('config.json')),
      droppedFile('qwen3_moe/model.safetensors', bytes('model.safetensors')),
      droppedFile('qwen3_moe/generation_config.json', bytes('generation_config.json')),
    ]);
    expect(folder.name).toBe('qwen3_moe');
    expect(folder.paths.sort()).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const checkpoint = await openCheckpoint(folder);
    expect(checkpoint.spec.architecture).toBe('qwen3_moe');
    expect(checkpoint.tensors.get('model.norm.weight')!.source.name).toBe('qwen3_moe/model.safetensors');
    expect(await folder.open('tokenizer.json')).toBeNull();
  });

  it('opens loose picked files by name, and a lone safetensors file under another name', async () => {
    const folder = filesFolder([new File([bytes('config.json')], 'config.json'), new File([bytes('model.safetensors')], 'qwen3-tiny.safetensors')]);
    expect(folder.name).toBe('dropped files');
    const checkpoint = await openCheckpoint(folder);
    expect(checkpoint.tensors.get('model.norm.weight')!.source.name).toBe('qwen3-tiny.safetensors');
  });

  it('takes explicit paths (a directory walk) and backslashes', async () => {
    const folder = filesFolder([
      { path: 'm\\config.json', file: new Blob([bytes('config.json')]) },
      { path: 'm/model.safetensors', file: new Blob([bytes('model.safetensors')]) },
    ]);
    expect((await openCheckpoint(folder)).spec.numExperts).toBe(8);
  });

  it('names a truncated dropped checkpoint', async () => {
    const model = bytes('model.safetensors');
    const folder = filesFolder([
      droppedFile('m/config.json', bytes('config.json')),
      droppedFile('m/model.safetensors', model.subarray(0, model.byteLength - 10)),
    ]);
    await expect(openCheckpoint(folder)).rejects.toThrow(/^m\/model\.safetensors: file is truncated/);
  });

  it('refuses no files and the same path twice', () => {
    expect(() => filesFolder([])).toThrow(ModelFileError);
    expect(() => filesFolder([new File(['{}'], 'config.json'), new File(['{}'], 'config.json')])).toThrow(/config\.json: given twice/);
  });
});
