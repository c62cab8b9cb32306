/**
 * Model folders made on the fly from the fixtures: the raw tensors of a safetensors file (read with a separate
 * minimal parser, so tests of the reader do not grade themselves), rewritten fused as transformers 5 holds them,
 * split into shards with a model.safetensors.index.json, or with one tensor changed.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, type Dtype } from '../../src/engine/io/safetensors.ts';

export interface RawTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: Uint8Array;
}

/** Every tensor of a safetensors file in header order, by a plain JSON.parse of the header. */
export function readRawTensors(path: string): RawTensor[] {
  const bytes = new Uint8Array(readFileSync(path));
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { dtype: Dtype; shape: number[]; data_offsets: [number, number] }
  >;
  const start = 8 + headerLength;
  return Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape, data: bytes.slice(start + t.data_offsets[0], start + t.data_offsets[1]) }));
}

export function rawTensor(tensors: RawTensor[], name: string): RawTensor {
  const found = tensors.find((t) => t.name === name);
  if (!found) throw new Error(`no tensor ${name}`);
  return found;
}

/** The parts one after another in a new array. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

const PER_EXPERT = /^(model\.layers\.\d+)\.(?:block_sparse_moe|mlp)\.experts\.(\d+)\.(w1|w2|w3|gate_proj|up_proj|down_proj)\.weight$/;
const ROUTER = /^(model\.layers\.\d+)\.block_sparse_moe\.gate\.weight$/;

/**
 * The transformers 5 fused layout of per-expert tensors: per layer `mlp.experts.gate_up_proj` [E, 2I, H] (each
 * expert's gate rows, then its up rows) and `mlp.experts.down_proj` [E, H, I], the router as `mlp.gate.weight`.
 */
export function fuseExperts(tensors: RawTensor[]): RawTensor[] {
  const layers = new Map<string, Map<number, Record<string, RawTensor>>>();
  const rest: RawTensor[] = [];
  for (const t of tensors) {
    const match = PER_EXPERT.exec(t.name);
    if (!match) {
      const router = ROUTER.exec(t.name);
      rest.push(router ? { ...t, name: `${router[1]}.mlp.gate.weight` } : t);
      continue;
    }
    const [, layer, expert, proj] = match;
    const role = proj === 'w1' || proj === 'gate_proj' ? 'gate' : proj === 'w3' || proj === 'up_proj' ? 'up' : 'down';
    const experts = layers.get(layer) ?? new Map();
    layers.set(layer, experts);
    experts.set(Number(expert), { ...experts.get(Number(expert)), [role]: t });
  }
  for (const [layer, experts] of layers) {
    const ordered = [...experts.keys()].sort((a, b) => a - b).map((e) => experts.get(e)!);
    const [I, H] = ordered[0].gate.shape;
    const { dtype } = ordered[0].gate;
    rest.push({
      name: `${layer}.mlp.experts.gate_up_proj`,
      dtype,
      shape: [ordered.length, 2 * I, H],
      data: concatBytes(...ordered.flatMap((e) => [e.gate.data, e.up.data])),
    });
    rest.push({ name: `${layer}.mlp.experts.down_proj`, dtype, shape: [ordered.length, H, I], data: concatBytes(...ordered.map((e) => e.down.data)) });
  }
  return rest;
}

/** f32 tensors truncated to bf16 (the upper 16 bits), as a bf16 checkpoint of the same model. */
export function toBf16(tensors: RawTensor[]): RawTensor[] {
  return tensors.map((t) => {
    if (t.dtype !== 'F32') return t;
    const words = new Uint32Array(t.data.slice().buffer);
    return { ...t, dtype: 'BF16', data: new Uint8Array(Uint16Array.from(words, (w) => w >>> 16).buffer) };
  });
}

export const shardName = (i: number, count: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;

/**
 * Writes a model folder: config.json and the tensors, in one model.safetensors or in `shards` files with an index.
 * Returns the index's weight_map (empty when not sharded).
 */
export function writeModelFolder(dir: string, config: object, tensors: RawTensor[], shards = 1): Record<string, string> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  if (shards === 1) {
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(tensors, { format: 'pt' }));
    return {};
  }
  const weightMap: Record<string, string> = {};
  const perShard = Math.ceil(tensors.length / shards);
  for (let i = 0; i < shards; i++) {
    const part = tensors.slice(i * perShard, (i + 1) * perShard);
    for (const t of part) weightMap[t.name] = shardName(i, shards);
    writeFileSync(join(dir, shardName(i, shards)), writeSafetensors(part, { format: 'pt' }));
  }
  const totalSize = tensors.reduce((n, t) => n + t.data.byteLength, 0);
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return weightMap;
}

/** A copy of a fixture folder's config.json and model.safetensors. */
export function copyFixtureFolder(fixture: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'model.safetensors']) copyFileSync(join(fixture, file), join(dir, file));
}

/** Index of the first differing byte, -1 when equal (vitest's toEqual walks typed arrays element by element, slowly). */
export function firstByteDifference(actual: Uint8Array, expected: Uint8Array): number {
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)))
    return -1;
  const n = Math.min(actual.byteLength, expected.byteLength);
  for (let i = 0; i < n; i++) if (actual[i] !== expected[i]) return i;
  return n;
}
