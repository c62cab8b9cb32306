/**
 * Shared by the pipeline's GPU tests: canonical matrices of a checkpoint read on the CPU (independently of the GPU
 * upload: expert-layout.ts for the experts, the stored tensors for attention and the shared expert), seeded
 * calibration windows, and the pipeline's masks read back next to the CPU reference pipeline's.
 */
import type { Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { readTensorRaw } from '../../src/engine/model/checkpoint.ts';
import { readCanonicalExperts } from '../../src/engine/model/expert-layout.ts';
import { MATRIX_KEYS, type MaskSet, type MatrixKey } from '../../src/engine/model/mask-set.ts';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { decodeWeights } from '../../src/engine/prune/packing.ts';
import { createRng } from '../../src/engine/random.ts';
import type { Dtype } from '../../src/engine/io/safetensors.ts';
import { DTYPE_BYTES } from '../../src/engine/io/safetensors.ts';

const WEIGHT_DTYPE: Partial<Record<Dtype, WeightDtype>> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

function decode(bytes: Uint8Array, dtype: Dtype): Float32Array {
  return decodeWeights(bytes, WEIGHT_DTYPE[dtype]!, bytes.byteLength / DTYPE_BYTES[dtype]);
}

/** f32 values of canonical matrix `key` of layer `layer`, read from the checkpoint's files. */
export function canonicalReader(checkpoint: Checkpoint): (layer: number, key: MatrixKey) => Promise<Float32Array> {
  const cache = new Map<string, Float32Array>();
  return async (layer, key) => {
    const id = `${layer}.${key}`;
    const hit = cache.get(id);
    if (hit) return hit;
    const names = checkpoint.names.layers[layer];
    const tensor = async (name: string) => {
      const { info, bytes } = await readTensorRaw(checkpoint, name);
      return decode(bytes, info.dtype);
    };
    let values: Float32Array;
    if (key === 'experts.gate_up' || key === 'experts.down') {
      const experts = await readCanonicalExperts(checkpoint, layer);
      values = decode(key === 'experts.gate_up' ? experts.gateUp : experts.down, experts.dtype);
    } else if (key === 'shared.gate_up') {
      const [gate, up] = [await tensor(names.shared!.gate), await tensor(names.shared!.up)];
      values = new Float32Array(gate.length + up.length);
      values.set(gate);
      values.set(up, gate.length);
    } else if (key === 'shared.down') {
      values = await tensor(names.shared!.down);
    } else if (key === 'attn.q_a' || key === 'attn.q_b' || key === 'attn.kv_a' || key === 'attn.kv_b') {
      const mla = names.mla!;
      const stored = { 'attn.q_a': mla.qA?.weight, 'attn.q_b': mla.qB, 'attn.kv_a': mla.kvA.weight, 'attn.kv_b': mla.kvB }[key];
      values = await tensor(stored!);
    } else {
      values = await tensor(names[key.slice('attn.'.length) as 'q' | 'k' | 'v' | 'o']!.weight);
    }
    cache.set(id, values);
    return values;
  };
}

/** `count` windows of `length` seeded random token ids below `vocab`. */
export function randomWindows(count: number, length: number, vocab: number, seed: number): number[][] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => Array.from({ length }, () => rng.int(vocab)));
}

/** Names the first difference between two mask sets, or returns null when they are equal bit for bit. */
export function maskSetDifference(got: MaskSet, want: MaskSet): string | null {
  if (got.layers.length !== want.layers.length) return `${got.layers.length} layers, expected ${want.layers.length}`;
  for (let l = 0; l < want.layers.length; l++) {
    const a = got.layers[l];
    const b = want.layers[l];
    if (!a || !b) {
      if (a !== b) return `layer ${l}: ${a ? 'masks' : 'none'} vs expected ${b ? 'masks' : 'none'}`;
      continue;
    }
    for (const key of MATRIX_KEYS) {
      const x = a.matrices[key];
      const y = b.matrices[key];
      if (!x || !y) {
        if (x !== y) return `layers.${l}.${key}: present ${!!x}, expected ${!!y}`;
        continue;
      }
      if (x.length !== y.length) return `layers.${l}.${key}: ${x.length} words, expected ${y.length}`;
      for (let w = 0; w < x.length; w++) {
        if (x[w] !== y[w]) {
          const diff = (x[w] ^ y[w]) >>> 0;
          const bit = 31 - Math.clz32(diff & -diff);
          return `layers.${l}.${key}: word ${w} differs (${x[w].toString(16)} vs ${y[w].toString(16)}), first at element ${w * 32 + bit}`;
        }
      }
    }
    const ea = a.expertEnabled ? Array.from(a.expertEnabled).join('') : 'all';
    const eb = b.expertEnabled ? Array.from(b.expertEnabled).join('') : 'all';
    if (ea !== eb) return `layer ${l}: experts enabled ${ea}, expected ${eb}`;
  }
  return null;
}
