/**
 * A synthetic Hugging Face model folder: config.json as given and a model.safetensors whose tensors (names and
 * shapes exactly as the family stores them; experts in transformers 5's fused layout, GraniteMoE's own names)
 * hold seeded random values made on demand, range by range. Nothing is kept in memory, so a folder shaped like
 * a 1B-parameter model costs nothing until it is read; reading the same range twice gives the same bytes.
 * For benchmarks (random weights of a real model's shape) and tests of limits and upload.
 */
import { ModelFileError } from '../errors.ts';
import { MemoryByteSource, type ByteSource } from './byte-source.ts';
import { DTYPE_BYTES, type Dtype } from './safetensors.ts';
import type { ModelFolder } from '../model/checkpoint.ts';
import { parseConfigJson } from '../model/config.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import { f32ToBf16Bits, f32ToF16Bits } from './dtype-encoding.ts';

export interface SyntheticTensor {
  name: string;
  shape: number[];
  /** Values are uniform with this standard deviation around `mean`. */
  std: number;
  mean: number;
}

/** The tensors a checkpoint of `spec` holds (per family naming), with init scales: 1/sqrt(fan_in) for matrices. */
export function syntheticTensors(spec: MoeModelSpec): SyntheticTensor[] {
  const { hiddenSize: H, vocabSize: V, headDim: D, numHeads, numKvHeads, numExperts: E, expertFfnSize: I } = spec;
  const out: SyntheticTensor[] = [];
  const matrix = (name: string, shape: number[]) => out.push({ name, shape, std: 1 / Math.sqrt(shape.at(-1)!), mean: 0 });
  const vector = (name: string, width: number, mean: number) => out.push({ name, shape: [width], std: 0.02, mean });
  const norm = (prefix: string) => {
    vector(`${prefix}.weight`, H, 1);
    if (spec.norm.bias) vector(`${prefix}.bias`, H, 0);
  };
  const linear = (prefix: string, rows: number, cols: number, bias: boolean) => {
    matrix(`${prefix}.weight`, [rows, cols]);
    if (bias) vector(`${prefix}.bias`, rows, 0);
  };
  const ffn = (prefix: string, width: number) => {
    matrix(`${prefix}.gate_proj.weight`, [width, H]);
    matrix(`${prefix}.up_proj.weight`, [width, H]);
    matrix(`${prefix}.down_proj.weight`, [H, width]);
  };
  out.push({ name: 'model.embed_tokens.weight', shape: [V, H], std: 1, mean: 0 });
  for (let l = 0; l < spec.numLayers; l++) {
    const p = `model.layers.${l}`;
    norm(`${p}.input_layernorm`);
    norm(`${p}.post_attention_layernorm`);
    linear(`${p}.self_attn.q_proj`, numHeads * D, H, spec.qkvBias);
    linear(`${p}.self_attn.k_proj`, numKvHeads * D, H, spec.qkvBias);
    linear(`${p}.self_attn.v_proj`, numKvHeads * D, H, spec.qkvBias);
    linear(`${p}.self_attn.o_proj`, H, numHeads * D, spec.oBias);
    if (spec.qkNorm !== 'none') {
      const perHead = spec.qkNorm === 'per-head';
      vector(`${p}.self_attn.q_norm.weight`, perHead ? D : numHeads * D, 1);
      vector(`${p}.self_attn.k_norm.weight`, perHead ? D : numKvHeads * D, 1);
    }
    if (!spec.moeLayers[l]) {
      ffn(`${p}.mlp`, spec.denseFfnSize);
    } else if (spec.architecture === 'granitemoe') {
      matrix(`${p}.block_sparse_moe.router.layer.weight`, [E, H]);
      matrix(`${p}.block_sparse_moe.input_linear.weight`, [E, 2 * I, H]);
      matrix(`${p}.block_sparse_moe.output_linear.weight`, [E, H, I]);
    } else {
      matrix(`${p}.mlp.gate.weight`, [E, H]);
      matrix(`${p}.mlp.experts.gate_up_proj`, [E, 2 * I, H]);
      matrix(`${p}.mlp.experts.down_proj`, [E, H, I]);
      if (spec.sharedExpert) {
        ffn(`${p}.mlp.shared_expert`, spec.sharedExpert.ffnSize);
        if (spec.sharedExpert.gated) matrix(`${p}.mlp.shared_expert_gate.weight`, [1, H]);
      }
    }
  }
  norm('model.norm');
  if (!spec.tiedEmbeddings) linear('lm_head', V, H, spec.lmHeadBias);
  return out;
}

/** A 32-bit integer hash (Chris Wellons' lowbias32): element i of a tensor gets hash(seed ^ hash(i)). */
function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

function nameSeed(name: string, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = hash32(h ^ name.charCodeAt(i));
  return h;
}

interface Placed extends SyntheticTensor {
  start: number; // absolute byte offset in the file
  bytes: number;
  seed: number;
}

/** model.safetensors made on demand: header bytes, then each tensor's values generated per element. */
class SyntheticSafetensors implements ByteSource {
  private readonly header: Uint8Array;
  private readonly placed: Placed[] = [];
  private readonly total: number;

  constructor(
    readonly name: string,
    tensors: SyntheticTensor[],
    private readonly dtype: Dtype,
    seed: number,
  ) {
    const json: Record<string, unknown> = {};
    let offset = 0;
    for (const t of tensors) {
      const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype];
      json[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
      this.placed.push({ ...t, start: offset, bytes, seed: nameSeed(t.name, seed) });
      offset += bytes;
    }
    const text = new TextEncoder().encode(JSON.stringify(json));
    const headerLength = Math.ceil(text.byteLength / 8) * 8;
    this.header = new Uint8Array(8 + headerLength).fill(0x20);
    new DataView(this.header.buffer).setUint32(0, headerLength, true);
    this.header.fill(0, 4, 8);
    this.header.set(text, 8);
    for (const p of this.placed) p.start += this.header.byteLength;
    this.total = this.header.byteLength + offset;
  }

  async size(): Promise<number> {
    return this.total;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.total) {
      throw new ModelFileError(this.name, 'truncated', `read of ${length} bytes at ${offset} is past the end of the file (${this.total} bytes)`);
    }
    const out = new Uint8Array(length);
    if (offset < this.header.byteLength) out.set(this.header.subarray(offset, Math.min(offset + length, this.header.byteLength)));
    const elementBytes = DTYPE_BYTES[this.dtype];
    const view = new DataView(out.buffer);
    for (const p of this.placed) {
      const from = Math.max(offset, p.start);
      const to = Math.min(offset + length, p.start + p.bytes);
      if (from >= to) continue;
      // Callers read whole elements (tensors, expert slices); generate element by element.
      for (let at = from; at < to; at += elementBytes) {
        const i = (at - p.start) / elementBytes;
        const uniform = hash32(p.seed ^ hash32(i)) / 4294967296 - 0.5; // [-0.5, 0.5): std 1/sqrt(12)
        const value = p.mean + p.std * Math.sqrt(12) * uniform;
        const o = at - offset;
        if (this.dtype === 'F32') view.setFloat32(o, value, true);
        else view.setUint16(o, this.dtype === 'F16' ? f32ToF16Bits(value) : f32ToBf16Bits(value), true);
      }
    }
    return out;
  }
}

/** A model folder with `config` as config.json and synthetic random weights in `dtype`. */
export function syntheticModelFolder(config: Record<string, unknown>, dtype: Dtype = 'F16', seed = 1): ModelFolder {
  const configText = JSON.stringify(config);
  const spec = parseConfigJson('config.json', configText);
  const model = new SyntheticSafetensors('synthetic/model.safetensors', syntheticTensors(spec), dtype, seed);
  const configSource = new MemoryByteSource('synthetic/config.json', new TextEncoder().encode(configText));
  return {
    name: 'synthetic',
    async open(path: string) {
      if (path === 'config.json') return configSource;
      if (path === 'model.safetensors') return model;
      return null;
    },
  };
}
