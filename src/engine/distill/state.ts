/**
 * A resumable distillation state as one safetensors file (pure: bytes in, bytes out): the f32 experts of every
 * MoE layer distilled so far (finished layers and the one under way), that layer's AdamW moments, and in the
 * metadata where the run stands (which layer, which step), its settings, the curves and per-layer summaries. A run
 * resumed from it, batches being a function of the step (data.ts), continues on the path it would have taken.
 */
import { ModelFileError } from '../errors.ts';
import { MemoryByteSource } from '../io/byte-source.ts';
import { readSafetensorsHeader, writeSafetensors } from '../io/safetensors.ts';
import type { DistillCurves, DistillLayerSummary } from './report.ts';
import type { DistillSettings } from './settings.ts';

export const DISTILL_STATE_FORMAT = 'moe-lab-distill-state/2';

export interface DistillState {
  /** Index into the MoE layers (0 = the first MoE layer) of the layer under way; = their count when finished. */
  layerIndex: number;
  /** Steps taken on that layer. */
  step: number;
  settings: DistillSettings;
  /** Model layer -> its experts [P_l] f32 (finished layers and the one under way). */
  experts: Map<number, Float32Array>;
  /** The layer under way's moments [2 P_l], or empty when finished. */
  moments: Float32Array;
  curves: DistillCurves;
  layers: DistillLayerSummary[];
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function encodeDistillState(s: DistillState): Uint8Array {
  return writeSafetensors(
    [
      ...[...s.experts].map(([l, values]) => ({ name: `experts.${l}`, dtype: 'F32' as const, shape: [values.length], data: bytesOf(values) })),
      { name: 'moments', dtype: 'F32', shape: [s.moments.length], data: bytesOf(s.moments) },
    ],
    {
      format: DISTILL_STATE_FORMAT,
      layer_index: String(s.layerIndex),
      step: String(s.step),
      settings: JSON.stringify(s.settings),
      curves: JSON.stringify(s.curves),
      layers: JSON.stringify(s.layers),
    },
  );
}

export async function decodeDistillState(file: string, bytes: Uint8Array): Promise<DistillState> {
  const source = new MemoryByteSource(file, bytes);
  const header = await readSafetensorsHeader(source);
  if (header.metadata.format !== DISTILL_STATE_FORMAT)
    throw new ModelFileError(file, 'bad-layout', `not a moe-lab distillation state of this version (metadata.format is not ${DISTILL_STATE_FORMAT})`);
  const tensor = async (name: string) => {
    const info = header.tensors.get(name);
    if (!info || info.dtype !== 'F32') throw new ModelFileError(file, 'missing-tensor', `distillation state lacks the F32 tensor ${name}`);
    return new Float32Array((await source.read(info.byteOffset, info.byteLength)).slice().buffer);
  };
  const integer = (key: string) => {
    const value = Number(header.metadata[key]);
    if (!Number.isSafeInteger(value) || value < 0) throw new ModelFileError(file, 'bad-layout', `metadata.${key} ${header.metadata[key]} is not a count`);
    return value;
  };
  const json = <T>(key: string): T => {
    try {
      return JSON.parse(header.metadata[key]) as T;
    } catch {
      throw new ModelFileError(file, 'bad-json', `metadata.${key} is not valid JSON`);
    }
  };
  const experts = new Map<number, Float32Array>();
  for (const name of header.tensors.keys()) {
    const match = /^experts\.(\d+)$/.exec(name);
    if (match) experts.set(Number(match[1]), await tensor(name));
  }
  return {
    layerIndex: integer('layer_index'),
    step: integer('step'),
    settings: json<DistillSettings>('settings'),
    experts: new Map([...experts].sort(([a], [b]) => a - b)),
    moments: await tensor('moments'),
    curves: json<DistillCurves>('curves'),
    layers: json<DistillLayerSummary[]>('layers'),
  };
}
