/**
 * A resumable distillation state as one safetensors file (pure: bytes in, bytes out): the flat f32 student
 * parameters and AdamW moments, with the step, lambda and settings in the metadata. A run resumed from it, batches
 * being a function of the step (data.ts), continues on the path it would have taken.
 */
import { ModelFileError } from '../errors.ts';
import { MemoryByteSource } from '../io/byte-source.ts';
import { readSafetensorsHeader, writeSafetensors } from '../io/safetensors.ts';
import type { DistillSettings } from './settings.ts';

export const DISTILL_STATE_FORMAT = 'moe-lab-distill-state/1';

export interface DistillState {
  step: number;
  lambda: number;
  settings: DistillSettings;
  params: Float32Array; // [P]
  moments: Float32Array; // [2P]
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function encodeDistillState(s: DistillState): Uint8Array {
  return writeSafetensors(
    [
      { name: 'params', dtype: 'F32', shape: [s.params.length], data: bytesOf(s.params) },
      { name: 'moments', dtype: 'F32', shape: [s.moments.length], data: bytesOf(s.moments) },
    ],
    { format: DISTILL_STATE_FORMAT, step: String(s.step), lambda: String(s.lambda), settings: JSON.stringify(s.settings) },
  );
}

export async function decodeDistillState(file: string, bytes: Uint8Array): Promise<DistillState> {
  const source = new MemoryByteSource(file, bytes);
  const header = await readSafetensorsHeader(source);
  if (header.metadata.format !== DISTILL_STATE_FORMAT)
    throw new ModelFileError(file, 'bad-layout', `not a moe-lab distillation state (metadata.format is not ${DISTILL_STATE_FORMAT})`);
  const tensor = async (name: string) => {
    const info = header.tensors.get(name);
    if (!info || info.dtype !== 'F32') throw new ModelFileError(file, 'missing-tensor', `distillation state lacks the F32 tensor ${name}`);
    return new Float32Array((await source.read(info.byteOffset, info.byteLength)).slice().buffer);
  };
  const step = Number(header.metadata.step);
  const lambda = Number(header.metadata.lambda);
  if (!Number.isSafeInteger(step) || step < 0) throw new ModelFileError(file, 'bad-layout', `metadata.step ${header.metadata.step} is not a step count`);
  if (!(lambda >= 0 && Number.isFinite(lambda)))
    throw new ModelFileError(file, 'bad-layout', `metadata.lambda ${header.metadata.lambda} is not a finite number >= 0`);
  let settings: DistillSettings;
  try {
    settings = JSON.parse(header.metadata.settings) as DistillSettings;
  } catch {
    throw new ModelFileError(file, 'bad-json', 'metadata.settings is not valid JSON');
  }
  const params = await tensor('params');
  const moments = await tensor('moments');
  if (moments.length !== 2 * params.length)
    throw new ModelFileError(file, 'shape-mismatch', `moments has ${moments.length} values, params ${params.length} (need twice as many)`);
  return { step, lambda, settings, params, moments };
}
