/**
 * Quantization of a GpuModel's routed experts (docs/quantization.md): the stacks of canonical expert matrices per
 * MoE layer (experts.gate_up [E, 2I, H] = 2E matrices [I, H], gate then up per expert; experts.down [E, H, I] = E
 * matrices [H, I]), round-to-nearest on the GPU (shaders/quant/quantize_rtn.wgsl) and the upload path the forward
 * evaluates: codes (a byte each) and f32 scales on the GPU, expanded by shaders/quant/dequantize.wgsl into f32 and
 * packed into the model's weight dtype by sparsegpt/encode_weights.wgsl. The result is a GpuMaskSet whose layers
 * carry those replacement weights (GpuLayerMasks.weights), so the expert kernels read the quantized values as they
 * read SparseGPT's updated weights; the model's own weights stay, and dense <-> quantized stays a switch.
 * The forward therefore reads weights in the model's dtype: what it reads per token does not shrink (the
 * accounting says what a kernel that reads codes would read).
 */
import type { MatrixKey } from '../../engine/model/mask-set.ts';
import { decodeWeights } from '../../engine/prune/packing.ts';
import { groupsPerRow, type QuantBits, type QuantizedMatrix } from '../../engine/quantize/quantized-matrix.ts';
import { recordDequantize } from '../kernels/quant/dequantize.ts';
import { recordQuantizeRtn } from '../kernels/quant/quantize_rtn.ts';
import { recordEncodeWeights } from '../kernels/sparsegpt/encode_weights.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { GpuMaskSet, maskedMatrix, maskedMatrixInfo, type GpuLayerMasks } from '../model/gpu-mask-set.ts';
import type { MatrixInfo } from '../model/gpu-model.ts';
import { WEIGHT_BYTES } from '../weights.ts';
import type { GpuMatrix } from '../model/tensor-upload.ts';

/** One stack of same-shape expert matrices of an MoE layer. */
export interface ExpertStack {
  layer: number;
  key: Extract<MatrixKey, 'experts.gate_up' | 'experts.down'>;
  /** The canonical matrix's name, dtype and size (its weights: stackMatrix, while the layer is on the GPU). */
  matrix: MatrixInfo;
  rows: number;
  cols: number;
  /** Matrices in the stack (2E or E). */
  count: number;
  /** The engine's label of matrix z (src/engine/prune/matrices.ts). */
  label(z: number): string;
  /** Routed expert of matrix z (its Hessian and token count). */
  expert(z: number): number;
}

/** The routed-expert stacks of every MoE layer, in layer order, gate_up before down (from the headers: a streamed model's layers need not be up). */
export function expertStacks(model: GpuModel): ExpertStack[] {
  const { hiddenSize: H, expertFfnSize: I, numExperts: E } = model.spec;
  return model.spec.moeLayers.flatMap((isMoe, l) => {
    if (!isMoe) return [];
    const gateUp = maskedMatrixInfo(model, l, 'experts.gate_up');
    const down = maskedMatrixInfo(model, l, 'experts.down');
    if (!gateUp || !down) throw new RangeError(`layer ${l} has no routed experts`);
    return [
      {
        layer: l,
        key: 'experts.gate_up' as const,
        matrix: gateUp,
        rows: I,
        cols: H,
        count: 2 * E,
        label: (z: number) => `layers.${l}.experts.${z >> 1}.${z & 1 ? 'up' : 'gate'}`,
        expert: (z: number) => z >> 1,
      },
      {
        layer: l,
        key: 'experts.down' as const,
        matrix: down,
        rows: H,
        cols: I,
        count: E,
        label: (z: number) => `layers.${l}.experts.${z}.down`,
        expert: (z: number) => z,
      },
    ];
  });
}

/** The stack's weights on the GPU (a streamed model: while its layer is acquired). */
function stackMatrix(model: GpuModel, stack: ExpertStack): GpuMatrix {
  const matrix = maskedMatrix(model, stack.layer, stack.key);
  if (!matrix) throw new RangeError(`${stack.matrix.name} is not on the GPU (acquire layer ${stack.layer} first)`);
  return matrix;
}

/** The stack's weights as f32 on the CPU, [count, rows, cols] (decoded exactly from the stored dtype). */
export async function readStackWeights(model: GpuModel, stack: ExpertStack): Promise<Float32Array> {
  const elements = stack.count * stack.rows * stack.cols;
  return decodeWeights(new Uint8Array(await model.ctx.read(stackMatrix(model, stack).buffer)), stack.matrix.dtype, elements);
}

/** Splits [count, rows, cols] codes and [count, rows, groups] scales into one QuantizedMatrix per matrix. */
function splitStack(stack: ExpertStack, codes: Uint8Array, scales: Float32Array, bits: QuantBits, groupSize: number): QuantizedMatrix[] {
  const { rows, cols } = stack;
  const perMatrix = rows * cols;
  const scalesPerMatrix = rows * groupsPerRow(cols, groupSize);
  return Array.from({ length: stack.count }, (_, z) => ({
    rows,
    cols,
    bits,
    groupSize,
    codes: codes.slice(z * perMatrix, (z + 1) * perMatrix),
    scales: scales.slice(z * scalesPerMatrix, (z + 1) * scalesPerMatrix),
  }));
}

/**
 * Round-to-nearest codes of every matrix of the stack on the GPU (quantize_rtn.wgsl), pruned weights (`mask`:
 * the layer's keep bitset of this key, null: none) and exact zeros at the zero code. Waits for the GPU.
 */
export async function quantizeStackRtn(
  model: GpuModel,
  stack: ExpertStack,
  mask: GPUBuffer | null,
  bits: QuantBits,
  groupSize: number,
): Promise<QuantizedMatrix[]> {
  const { ctx } = model;
  groupsPerRow(stack.cols, groupSize);
  const elements = stack.count * stack.rows * stack.cols;
  const codes = await ctx.allocate(`${stack.matrix.name} RTN codes`, elements);
  const scales = await ctx.allocate(`${stack.matrix.name} RTN scales`, (elements / groupSize) * 4);
  try {
    const rec = ctx.record(`quantize ${stack.matrix.name}`);
    recordQuantizeRtn(rec, {
      elements,
      groupSize,
      bits,
      weights: { buffer: stackMatrix(model, stack).buffer, dtype: stack.matrix.dtype, elementOffset: 0 },
      mask: mask ? { buffer: mask, elementOffset: 0 } : null,
      codes,
      scales,
    });
    await rec.submit();
    return splitStack(stack, new Uint8Array(await ctx.read(codes)), await ctx.readF32(scales), bits, groupSize);
  } finally {
    codes.destroy();
    scales.destroy();
  }
}

/**
 * The stack's quantized matrices (any widths, one group size) as a weight buffer in the model's dtype and
 * canonical layout: codes and scales uploaded, dequantize.wgsl per matrix (its own zero point), then encoded.
 */
export async function uploadQuantizedStack(model: GpuModel, stack: ExpertStack, matrices: readonly QuantizedMatrix[]): Promise<GPUBuffer> {
  const { ctx } = model;
  const perMatrix = stack.rows * stack.cols;
  const elements = stack.count * perMatrix;
  const groupSize = matrices[0].groupSize;
  const codes = new Uint8Array(elements);
  const scales = new Float32Array(elements / groupSize);
  matrices.forEach((m, z) => {
    if (m.rows !== stack.rows || m.cols !== stack.cols || m.groupSize !== groupSize) {
      throw new RangeError(
        `${stack.label(z)}: quantized as [${m.rows}, ${m.cols}] with group size ${m.groupSize}, expected [${stack.rows}, ${stack.cols}] / ${groupSize}`,
      );
    }
    codes.set(m.codes, z * perMatrix);
    scales.set(m.scales, (z * perMatrix) / groupSize);
  });
  const codesBuffer = await ctx.upload(`${stack.matrix.name} codes`, codes);
  const scalesBuffer = await ctx.upload(`${stack.matrix.name} scales`, scales);
  const work = await ctx.allocate(`${stack.matrix.name} dequantized f32`, elements * 4);
  const output = await ctx.allocate(`${stack.matrix.name} (quantized)`, stack.matrix.elements * WEIGHT_BYTES[stack.matrix.dtype]);
  try {
    const rec = ctx.record(`dequantize ${stack.matrix.name}`);
    matrices.forEach((m, z) =>
      recordDequantize(rec, { codes: codesBuffer, scales: scalesBuffer, work }, { base: z * perMatrix, count: perMatrix }, groupSize, m.bits),
    );
    recordEncodeWeights(rec, work, output, stack.matrix.dtype, elements, 0);
    await rec.submit();
    return output;
  } catch (error) {
    output.destroy();
    throw error;
  } finally {
    codesBuffer.destroy();
    scalesBuffer.destroy();
    work.destroy();
  }
}

/**
 * A forward-ready set: per MoE layer the replacement weights of its quantized stacks, on top of `masks` (a masks
 * file's bitsets and enabled experts, kept in force; null: none). Owns the weight buffers, not `masks`.
 */
export async function quantizedMaskSet(
  model: GpuModel,
  quantized: ReadonlyMap<ExpertStack, readonly QuantizedMatrix[]>,
  masks: GpuMaskSet | null,
): Promise<GpuMaskSet> {
  const set = GpuMaskSet.forModel(model, masks);
  try {
    // Layer by layer (a streamed model's go to host memory at once): each stack's dequantized weights in the model's dtype.
    for (let l = 0; l < model.spec.numLayers; l++) {
      const stacks = [...quantized].filter(([stack]) => stack.layer === l);
      if (!stacks.length) continue;
      const layer: GpuLayerMasks = { matrices: {}, expertEnabled: null, weights: {} };
      const buffers: GPUBuffer[] = [];
      try {
        for (const [stack, matrices] of stacks) {
          const buffer = await uploadQuantizedStack(model, stack, matrices);
          buffers.push(buffer);
          layer.weights![stack.key] = buffer;
        }
      } catch (error) {
        for (const b of buffers) b.destroy();
        throw error;
      }
      await set.put(l, layer, buffers);
    }
    return set;
  } catch (error) {
    set.destroy();
    throw error;
  }
}
