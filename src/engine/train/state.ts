/**
 * A resumable training state as one safetensors file (pure: bytes in, bytes out): the flat f32 parameters and
 * AdamW moments, with the step and the recipe in the metadata. Written every few steps; a run that was stopped
 * continues from it and, batches being a function of the step (data.ts), follows the same path it would have.
 */
import { ModelFileError } from '../errors.ts';
import { MemoryByteSource } from '../io/byte-source.ts';
import { readSafetensorsHeader, writeSafetensors } from '../io/safetensors.ts';
import type { TrainRecipe } from './recipe.ts';

export interface TrainState {
  step: number;
  recipe: TrainRecipe;
  params: Float32Array; // [P]
  moments: Float32Array; // [2P]: m then v
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function encodeTrainState(s: TrainState): Uint8Array {
  return writeSafetensors(
    [
      { name: 'params', dtype: 'F32', shape: [s.params.length], data: bytesOf(s.params) },
      { name: 'moments', dtype: 'F32', shape: [s.moments.length], data: bytesOf(s.moments) },
    ],
    { format: 'moe-lab-train-state', step: String(s.step), recipe: JSON.stringify(s.recipe) },
  );
}

export async function decodeTrainState(file: string, bytes: Uint8Array): Promise<TrainState> {
  const source = new MemoryByteSource(file, bytes);
  const header = await readSafetensorsHeader(source);
  if (header.metadata.format !== 'moe-lab-train-state') throw new ModelFileError(file, 'bad-layout', 'not a moe-lab training state (metadata.format)');
  const tensor = async (name: string) => {
    const info = header.tensors.get(name);
    if (!info || info.dtype !== 'F32') throw new ModelFileError(file, 'missing-tensor', `training state lacks the F32 tensor ${name}`);
    const data = await source.read(info.byteOffset, info.byteLength);
    return new Float32Array(data.slice().buffer);
  };
  const step = Number(header.metadata.step);
  if (!Number.isSafeInteger(step) || step < 0) throw new ModelFileError(file, 'bad-layout', `metadata.step ${header.metadata.step} is not a step count`);
  let recipe: TrainRecipe;
  try {
    recipe = JSON.parse(header.metadata.recipe) as TrainRecipe;
  } catch {
    throw new ModelFileError(file, 'bad-json', 'metadata.recipe is not valid JSON');
  }
  return { step, recipe, params: await tensor('params'), moments: await tensor('moments') };
}
