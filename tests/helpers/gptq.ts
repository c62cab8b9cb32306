/**
 * GPTQ round trips for the tests: a quantized model made by the tests' own round-to-nearest (the GPTQ symmetric
 * grid with f16 scales, written out here so the export is checked against something it does not compute itself),
 * its GPTQ export as files, and the dense folder holding the same dequantized weights in the model's dtype.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gptqModelEntries } from '../../src/engine/export/gptq-export.ts';
import { collectEntry } from '../../src/engine/export/hf-folder.ts';
import { encodeWeights, f32ToF16Bits } from '../../src/engine/io/dtype-encoding.ts';
import { DTYPE_BYTES, f16ToF32 } from '../../src/engine/io/safetensors.ts';
import { readTensorF32, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { expertMatrices } from '../../src/engine/prune/matrices.ts';
import {
  dequantize,
  maxCode,
  zeroPoint,
  type QuantBits,
  type QuantizedMatrix,
  type QuantizedModel,
  type QuantizedModelMatrix,
} from '../../src/engine/quantize/quantized-matrix.ts';
import { readRawTensors, writeModelFolder } from './checkpoint-files.ts';

/** Round to nearest on the symmetric grid, scale = f16(max|w| / (2^(bits-1) - 1)) per row and group (1 for an all-zero group). */
export function rtnMatrix(w: Float32Array, rows: number, cols: number, bits: QuantBits, groupSize: number): QuantizedMatrix {
  const groups = cols / groupSize;
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let max = 0;
      for (let c = g * groupSize; c < (g + 1) * groupSize; c++) max = Math.max(max, Math.abs(w[r * cols + c]));
      const scale = f16ToF32(f32ToF16Bits(max / (zeroPoint(bits) - 1) || 1));
      scales[r * groups + g] = scale;
      for (let c = g * groupSize; c < (g + 1) * groupSize; c++) {
        codes[r * cols + c] = Math.min(maxCode(bits), Math.max(0, Math.round(w[r * cols + c] / scale) + zeroPoint(bits)));
      }
    }
  }
  return { rows, cols, bits, groupSize, codes, scales };
}

export interface RtnOptions {
  bits: QuantBits;
  groupSize: number;
  /** Canonical routed-expert matrix index -> its own width (mixed precision). */
  otherBits?: Map<number, QuantBits>;
  /** Attention (or other) Linear weights to quantize too, at `attentionBits` with groups of `attentionGroupSize`. */
  attention?: string[];
  attentionBits?: QuantBits;
  attentionGroupSize?: number;
  /** Only these layers' routed experts (all when absent). */
  layers?: number[];
}

/** Every routed expert matrix (and the attention tensors asked for) quantized by rtnMatrix. */
export async function rtnQuantizedModel(checkpoint: Checkpoint, o: RtnOptions): Promise<QuantizedModel> {
  const matrices: QuantizedModelMatrix[] = [];
  const routed = expertMatrices(checkpoint.spec, checkpoint.names).filter((m) => m.expert !== 'shared' && (!o.layers || o.layers.includes(m.layer)));
  for (const [k, m] of routed.entries()) {
    const w = (await readTensorF32(checkpoint, m.tensor)).subarray(m.elementOffset, m.elementOffset + m.rows * m.cols);
    const bits = o.otherBits?.get(k) ?? o.bits;
    matrices.push({
      layer: m.layer,
      label: m.label,
      tensor: m.tensor,
      elementOffset: m.elementOffset,
      matrix: rtnMatrix(w, m.rows, m.cols, bits, o.groupSize),
    });
  }
  for (const name of o.attention ?? []) {
    const info = checkpoint.tensors.get(name)!.info;
    const layer = Number(/^model\.layers\.(\d+)\./.exec(name)?.[1] ?? 0);
    const matrix = rtnMatrix(
      await readTensorF32(checkpoint, name),
      info.shape[0],
      info.shape[1],
      o.attentionBits ?? o.bits,
      o.attentionGroupSize ?? o.groupSize,
    );
    matrices.push({ layer, label: name, tensor: name, elementOffset: 0, matrix });
  }
  return { method: 'rtn', bits: o.bits, mixed: (o.otherBits?.size ?? 0) > 0, groupSize: o.groupSize, matrices };
}

/** The GPTQ export's files in memory. */
export async function gptqExportFiles(checkpoint: Checkpoint, quantized: QuantizedModel): Promise<{ path: string; bytes: Uint8Array }[]> {
  const entries = await gptqModelEntries(checkpoint, quantized, new Map());
  return Promise.all(entries.map(async (e) => ({ path: e.path, bytes: await collectEntry(e) })));
}

/** Writes the GPTQ export into `dir`. */
export async function writeGptqExport(checkpoint: Checkpoint, quantized: QuantizedModel, dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (const file of await gptqExportFiles(checkpoint, quantized)) writeFileSync(join(dir, file.path), file.bytes);
}

/**
 * A plain folder of the input (one model.safetensors at `modelFile`) with every quantized matrix replaced by its
 * dequantized values in the stored dtype: the weights the lab's quantized forward reads.
 */
export function writeDequantizedFolder(config: object, modelFile: string, quantized: QuantizedModel, dir: string): void {
  const tensors = readRawTensors(modelFile);
  for (const m of quantized.matrices) {
    const t = tensors.find((x) => x.name === m.tensor)!;
    const dtype = t.dtype === 'F16' ? 'f16' : t.dtype === 'BF16' ? 'bf16' : 'f32';
    t.data.set(encodeWeights(dequantize(m.matrix), dtype), m.elementOffset * DTYPE_BYTES[t.dtype]);
  }
  writeModelFolder(dir, config, tensors);
}
