/** Which files of a model folder the lab reads, and their sizes: what an estimate lists before any download. */
import type { ModelFileInfo } from '../api/engine.ts';
import { ModelFileError } from '../engine/errors.ts';
import { JSON_LIMITS, readJson, SHARD_INDEX, shardsOfIndex, type ModelFolder } from '../engine/model/checkpoint.ts';

const OPTIONAL_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/** The safetensors files: the shards named by model.safetensors.index.json, or model.safetensors. */
export async function safetensorsFiles(folder: ModelFolder): Promise<string[]> {
  const index = await folder.open(SHARD_INDEX);
  if (!index) return ['model.safetensors'];
  return [...shardsOfIndex(index.name, await readJson(index, JSON_LIMITS.index)).keys()].sort();
}

/** config.json, the tokenizer files that exist, the shard index when sharded, and every safetensors file. */
export async function listModelFiles(folder: ModelFolder, weightFiles?: readonly string[]): Promise<ModelFileInfo[]> {
  const files = weightFiles ?? (await safetensorsFiles(folder));
  const sharded = files.length > 1 || files[0] !== 'model.safetensors';
  const required = ['config.json', ...(sharded ? [SHARD_INDEX] : []), ...files];
  const out: ModelFileInfo[] = [];
  for (const file of [...required, ...OPTIONAL_FILES]) {
    const source = await folder.open(file);
    if (!source) {
      if (OPTIONAL_FILES.includes(file)) continue;
      throw new ModelFileError(`${folder.name}/${file}`, 'missing-file', 'file not found');
    }
    out.push({ file, bytes: await source.size() });
  }
  return out;
}
