/**
 * The routed experts of one layer in the engine's canonical layout, from whichever layout the checkpoint stores:
 * gate_up [E, 2I, H] (per expert the I gate rows, then the I up rows) and down [E, H, I], raw bytes in the stored
 * dtype (F32, or F16/BF16 that the GPU packs two per u32). Sources:
 * - per expert: `experts.{e}.w1|w3|w2` or `experts.{e}.gate_proj|up_proj|down_proj`, each [I, H] / [H, I];
 * - fused: transformers 5's `experts.gate_up_proj` [E, 2I, H] + `experts.down_proj` [E, H, I], and GraniteMoE's
 *   `input_linear` / `output_linear` (same shapes; GraniteMoeMoE takes chunk 0 of the 2I outputs as the gate).
 * The copy plan moves one expert matrix at a time, so a loader can stream a layer straight into GPU buffers
 * without holding a whole checkpoint, or even a whole layer, in one ArrayBuffer. The inverse
 * (`checkpointExpertTensors`) gives back the checkpoint's own names and layout, for export.
 */
import { ModelFileError } from '../errors.ts';
import { DTYPE_BYTES, type Dtype } from '../io/safetensors.ts';
import { readTensorF32, readTensorRaw, type Checkpoint, type LocatedTensor } from './checkpoint.ts';
import { decodeMxfp4Experts, gateUpRow } from './mxfp4.ts';
import type { MoeModelSpec } from './spec.ts';
import { mxfp4Names, type ExpertNames } from './weights.ts';

export type CanonicalTarget = 'gateUp' | 'down';

/** One contiguous copy from a stored tensor into a canonical tensor. */
export interface ExpertCopy {
  target: CanonicalTarget;
  /** Byte offset in the canonical tensor. */
  targetOffset: number;
  tensor: LocatedTensor;
  /** Byte offset inside the stored tensor's data. */
  sourceOffset: number;
  byteLength: number;
}

export interface CanonicalExpertPlan {
  dtype: Dtype;
  /** Bytes of gate_up [E, 2I, H] and down [E, H, I]. */
  gateUpBytes: number;
  downBytes: number;
  copies: ExpertCopy[];
}

export interface CanonicalExperts {
  dtype: Dtype;
  gateUp: Uint8Array; // [E, 2I, H]
  down: Uint8Array; // [E, H, I]
}

function layerExperts(checkpoint: Checkpoint, layer: number): ExpertNames {
  const experts = checkpoint.names.layers[layer]?.experts;
  if (!experts) throw new RangeError(`layer ${layer} of ${checkpoint.folder.name} has no routed experts`);
  return experts;
}

/**
 * The copies that assemble layer `layer`'s canonical expert tensors, one expert matrix each. For each target the
 * copies run front to back and tile it with no gap (the GPU loader appends them in this order).
 */
export function planCanonicalExperts(checkpoint: Checkpoint, layer: number): CanonicalExpertPlan {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  const experts = layerExperts(checkpoint, layer);
  if (experts.layout === 'gpt-oss') throw gptOssUnsupported(checkpoint.folder.name, 'the copy plan (readGptOssExperts reads them)');
  const located = (name: string): LocatedTensor => {
    const tensor = checkpoint.tensors.get(name);
    if (!tensor) throw new ModelFileError(checkpoint.folder.name, 'missing-tensor', `missing tensor ${name}`);
    return tensor;
  };
  const storedNames = experts.layout === 'fused' ? [experts.gateUp, experts.down] : [...experts.gate, ...experts.up, ...experts.down];
  const dtype = located(storedNames[0]).info.dtype;
  for (const name of storedNames) {
    const { info, source } = located(name);
    // One canonical buffer has one dtype; a layer mixing them would be silently misread.
    if (info.dtype !== dtype) {
      throw new ModelFileError(
        source.name,
        'bad-dtype',
        `tensor ${name} is ${info.dtype} but ${storedNames[0]} is ${dtype}; a layer's experts must share one dtype`,
      );
    }
  }
  const bytes = DTYPE_BYTES[dtype];
  const matrix = I * H * bytes; // one [I, H] or [H, I] matrix
  const copies: ExpertCopy[] = [];
  for (let e = 0; e < E; e++) {
    if (experts.layout === 'fused') {
      copies.push({ target: 'gateUp', targetOffset: 2 * matrix * e, tensor: located(experts.gateUp), sourceOffset: 2 * matrix * e, byteLength: 2 * matrix });
      copies.push({ target: 'down', targetOffset: matrix * e, tensor: located(experts.down), sourceOffset: matrix * e, byteLength: matrix });
    } else {
      copies.push({ target: 'gateUp', targetOffset: 2 * matrix * e, tensor: located(experts.gate[e]), sourceOffset: 0, byteLength: matrix });
      copies.push({ target: 'gateUp', targetOffset: 2 * matrix * e + matrix, tensor: located(experts.up[e]), sourceOffset: 0, byteLength: matrix });
      copies.push({ target: 'down', targetOffset: matrix * e, tensor: located(experts.down[e]), sourceOffset: 0, byteLength: matrix });
    }
  }
  for (const copy of copies) {
    // resolveWeightNames checked the shapes already; this guards the plan itself.
    if (copy.sourceOffset + copy.byteLength > copy.tensor.info.byteLength) {
      throw new ModelFileError(copy.tensor.source.name, 'shape-mismatch', `tensor ${copy.tensor.info.name} is too small for ${E} experts of [${I}, ${H}]`);
    }
  }
  return { dtype, gateUpBytes: 2 * E * matrix, downBytes: E * matrix, copies };
}

/** gpt_oss's experts (interleaved, transposed, biased, maybe MXFP4) are read by readGptOssExperts, not the copy plans. */
export function gptOssUnsupported(file: string, what: string): ModelFileError {
  return new ModelFileError(
    file,
    'unsupported',
    `gpt_oss experts are not supported by ${what} yet (the forward, ppl, logits, calibration, pruning, export and distillation run)`,
  );
}

/**
 * gpt_oss's experts of layer `layer` in the canonical layout, f32: gate_up [E, 2I, H] (gate rows, then up rows,
 * de-interleaved from the stored [..., 0::2] / [..., 1::2]), down [E, H, I], and their biases in the same order:
 * gate_up [E, 2I], down [E, H]. Dense storage is x @ W ([E, H, 2I], [E, I, H]) and is transposed; MXFP4 storage
 * already holds the transposed matrices ([E, 2I, H], [E, H, I]) and is decoded (model/mxfp4.ts).
 */
export async function readGptOssExperts(
  checkpoint: Checkpoint,
  layer: number,
): Promise<{ gateUp: Float32Array; down: Float32Array; gateUpBias: Float32Array; downBias: Float32Array }> {
  const experts = layerExperts(checkpoint, layer);
  if (experts.layout !== 'gpt-oss') throw new RangeError(`layer ${layer} of ${checkpoint.folder.name} does not hold gpt_oss experts`);
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
  /** The matrix [E, R, C] as R outputs x C inputs (nn.Linear's [out, in]), gate_up's rows de-interleaved (gateUpRow). */
  const outIn = async (base: string, R: number, C: number): Promise<Float32Array> => {
    const interleaved = base === experts.gateUp;
    if (experts.format === 'mxfp4') {
      const { blocks, scales } = mxfp4Names(base);
      const [b, s] = [(await readTensorRaw(checkpoint, blocks)).bytes, (await readTensorRaw(checkpoint, scales)).bytes];
      return decodeMxfp4Experts(b, s, { experts: E, rows: R, cols: C, interleaved });
    }
    const stored = await readTensorF32(checkpoint, base); // [E, C, R]
    const out = new Float32Array(E * R * C);
    for (let e = 0; e < E; e++) {
      for (let c = 0; c < C; c++) {
        for (let s = 0; s < R; s++) out[(e * R + (interleaved ? gateUpRow(R, s) : s)) * C + c] = stored[(e * C + c) * R + s];
      }
    }
    return out;
  };
  return { gateUp: await outIn(experts.gateUp, 2 * I, H), down: await outIn(experts.down, H, I), ...(await readGptOssBiases(checkpoint, layer)) };
}

/** gpt_oss's expert biases of layer `layer` in the canonical order: gate_up [E, 2I] (gate, then up) and down [E, H]. */
export async function readGptOssBiases(checkpoint: Checkpoint, layer: number): Promise<{ gateUpBias: Float32Array; downBias: Float32Array }> {
  const experts = layerExperts(checkpoint, layer);
  if (experts.layout !== 'gpt-oss') throw new RangeError(`layer ${layer} of ${checkpoint.folder.name} does not hold gpt_oss experts`);
  const { numExperts: E, expertFfnSize: I } = checkpoint.spec;
  const interleavedBias = await readTensorF32(checkpoint, experts.gateUpBias); // [E, 2I]
  const gateUpBias = new Float32Array(E * 2 * I);
  for (let e = 0; e < E; e++) for (let s = 0; s < 2 * I; s++) gateUpBias[e * 2 * I + gateUpRow(2 * I, s)] = interleavedBias[e * 2 * I + s];
  return { gateUpBias, downBias: await readTensorF32(checkpoint, experts.downBias) };
}

/**
 * How one expert's stored gpt_oss matrix maps to its canonical matrix [R, C] (gate_up: R = 2I rows gate then up,
 * C = H; down: R = H, C = I): dense storage is the transpose [C, R] (x @ W), MXFP4 storage is [R, C/32, 16] bytes of
 * two codes each; gate_up's stored rows interleave gate and up (stored row 2j + p is canonical row p * I + j).
 */
export interface GptOssStoredMatrix {
  format: 'dense' | 'mxfp4';
  interleaved: boolean;
  rows: number; // R
  cols: number; // C
}

/** Canonical row of stored row s (de-interleaving gate_up). */
function canonicalRow(m: GptOssStoredMatrix, s: number): number {
  return m.interleaved ? gateUpRow(m.rows, s) : s;
}

/**
 * Zeroes, in one expert's stored bytes, the elements whose canonical bit (offset `start` in `mask`) is 0: a dense
 * element, or an MXFP4 nibble (code 0 is +0, exact; the scales stay as they are).
 */
export function zeroPrunedGptOss(bytes: Uint8Array, size: number, m: GptOssStoredMatrix, mask: Uint32Array, start: number): void {
  const kept = (c: number) => (mask[(start + c) >>> 5] >>> ((start + c) & 31)) & 1;
  const { rows: R, cols: C } = m;
  if (m.format === 'mxfp4') {
    for (let s = 0; s < R; s++) {
      const row = canonicalRow(m, s) * C;
      for (let b = 0; b < C / 2; b++) {
        const at = s * (C / 2) + b;
        if (!kept(row + 2 * b)) bytes[at] &= 0xf0;
        if (!kept(row + 2 * b + 1)) bytes[at] &= 0x0f;
      }
    }
    return;
  }
  for (let c = 0; c < C; c++) {
    for (let s = 0; s < R; s++) if (!kept(canonicalRow(m, s) * C + c)) bytes.fill(0, (c * R + s) * size, (c * R + s + 1) * size);
  }
}

/** Reads the bytes of one planned copy (one expert matrix, or an expert's fused gate+up rows). */
export function readExpertCopy(copy: ExpertCopy): Promise<Uint8Array> {
  const { info, source } = copy.tensor;
  return source.read(info.byteOffset + copy.sourceOffset, copy.byteLength);
}

/** Layer `layer`'s experts as whole canonical tensors (for small models, the CPU reference and tests). */
export async function readCanonicalExperts(checkpoint: Checkpoint, layer: number): Promise<CanonicalExperts> {
  const plan = planCanonicalExperts(checkpoint, layer);
  const out = { gateUp: new Uint8Array(plan.gateUpBytes), down: new Uint8Array(plan.downBytes) };
  for (const copy of plan.copies) out[copy.target].set(await readExpertCopy(copy), copy.targetOffset);
  return { dtype: plan.dtype, ...out };
}

export interface NamedTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: Uint8Array;
}

/**
 * The inverse: canonical gate_up [E, 2I, H] and down [E, H, I] back into the checkpoint's own tensors (names,
 * per-expert or fused layout), e.g. to export a pruned model with the same layout as its input.
 */
export function checkpointExpertTensors(spec: MoeModelSpec, names: ExpertNames, experts: CanonicalExperts): NamedTensor[] {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
  const matrix = I * H * DTYPE_BYTES[experts.dtype];
  if (experts.gateUp.byteLength !== 2 * E * matrix || experts.down.byteLength !== E * matrix) {
    throw new RangeError(`canonical experts must be ${2 * E * matrix} + ${E * matrix} bytes, got ${experts.gateUp.byteLength} + ${experts.down.byteLength}`);
  }
  const { dtype, gateUp, down } = experts;
  if (names.layout === 'gpt-oss') throw gptOssUnsupported(names.gateUp, 'checkpointExpertTensors');
  if (names.layout === 'fused') {
    return [
      { name: names.gateUp, dtype, shape: [E, 2 * I, H], data: gateUp },
      { name: names.down, dtype, shape: [E, H, I], data: down },
    ];
  }
  const tensors: NamedTensor[] = [];
  for (let e = 0; e < E; e++) {
    tensors.push({ name: names.gate[e], dtype, shape: [I, H], data: gateUp.subarray(2 * matrix * e, 2 * matrix * e + matrix) });
    tensors.push({ name: names.up[e], dtype, shape: [I, H], data: gateUp.subarray(2 * matrix * e + matrix, 2 * matrix * (e + 1)) });
    tensors.push({ name: names.down[e], dtype, shape: [H, I], data: down.subarray(matrix * e, matrix * (e + 1)) });
  }
  return tensors;
}
