/**
 * Quantization in the lab service (`moe-lab quantize`, docs/quantization.md): the routed experts' matrices of the
 * loaded model, optionally under a masks file (pruned weights stay exactly 0), by round-to-nearest on the GPU or
 * GPTQ (Frantar et al. 2022: the column sweep in f64 on the CPU, src/engine/reference/quant/quantize.ts, with
 * the routed-token Hessians SparseGPT's machinery sums on the GPU), at uniform bits or mixed precision per matrix
 * under an average budget (QPruner's idea; src/engine/quantize/allocate.ts). The quantized model stays in force
 * for the session's quantized perplexity (dequantized in a shader, src/gpu/quantize/quantize-model.ts) and its
 * export, until the next quantization or the session's end.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import { gptqModelEntries } from '../engine/export/gptq-export.ts';
import { gptqShapeProblem } from '../engine/export/gptq-layout.ts';
import type { MaskSet } from '../engine/model/mask-set.ts';
import type { ExpertNames } from '../engine/model/weights.ts';
import { greedyAllocation, knapsackAllocation, type AllocationItem } from '../engine/quantize/allocate.ts';
import { QUANT_BITS, dequantize, type QuantBits, type QuantizedMatrix, type QuantizedModel } from '../engine/quantize/quantized-matrix.ts';
import { quantizeAccounting, type QuantizedMatrixReport, type QuantizeReport } from '../engine/quantize/report.ts';
import { checkQuantizeSettings, fittingGroupSizes, QuantizeRequestError, type QuantizeSettings } from '../engine/quantize/settings.ts';
import type { CalibrationInfo } from '../engine/prune/report.ts';
import { gptqReference } from '../engine/reference/quant/quantize.ts';
import { scaledHessian } from '../engine/reference/sparsegpt/matrix.ts';
import { evaluatePerplexity, type PerplexityReport } from '../gpu/eval/perplexity.ts';
import { uploadMasks, type GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import { routedHessians, type ExpertHessians } from '../gpu/quantize/hessians.ts';
import { expertStacks, quantizedMaskSet, quantizeStackRtn, readStackWeights, type ExpertStack } from '../gpu/quantize/quantize-model.ts';
import { WEIGHT_BYTES } from '../gpu/weights.ts';
import { progressStep, type LabSession } from './lab-session.ts';

export interface QuantizeCalibration {
  /** Calibration windows (GPTQ and mixed precision need them; uniform RTN does not). */
  windows?: number[][];
  info?: Partial<CalibrationInfo>;
  tokensPerBatch?: number;
}

/** The quantization in force in a session. */
export interface QuantizeRun {
  model: QuantizedModel;
  report: QuantizeReport;
  gpu: GpuMaskSet;
  masks: GpuMaskSet | null;
}

const runs = new WeakMap<LabSession, QuantizeRun>();

function releaseRun(session: LabSession): void {
  const run = runs.get(session);
  run?.gpu.destroy();
  run?.masks?.destroy();
  runs.delete(session);
}

/** The quantization in force, or an error saying to quantize first. */
export function quantizationInForce(session: LabSession): QuantizeRun {
  const run = runs.get(session);
  if (!run) throw new EngineError({ kind: 'bad-request', message: 'Nothing is quantized yet: quantize first.' });
  return run;
}

/** Keep bits [rows * cols] of matrix z of a stack from a CPU mask set (null: every weight kept). */
function keepOf(masks: MaskSet | null, stack: ExpertStack, z: number): Uint8Array | null {
  const bits = masks?.layers[stack.layer]?.matrices[stack.key];
  if (!bits) return null;
  const size = stack.rows * stack.cols;
  return Uint8Array.from({ length: size }, (_, i) => (bits[(z * size + i) >>> 5] >>> ((z * size + i) & 31)) & 1);
}

/** sum_t ||(W - W_q) x_t||^2 = sum_r dw_r^T S dw_r with S = sum_t x_t x_t^T [cols, cols] (f64). */
export function outputError(weights: Float32Array, quantized: QuantizedMatrix, S: Float32Array): number {
  const { rows, cols } = quantized;
  const values = dequantize(quantized);
  const dw = new Float64Array(cols);
  let error = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) dw[c] = weights[r * cols + c] - values[r * cols + c];
    for (let i = 0; i < cols; i++) {
      if (dw[i] === 0) continue;
      let sum = 0;
      for (let j = 0; j < cols; j++) sum += S[i * cols + j] * dw[j];
      error += dw[i] * sum;
    }
  }
  return error;
}

/** Quantizes the loaded model's routed experts and puts the result in force (see the file comment). */
export async function quantizeWithSettings(
  session: LabSession,
  settings: QuantizeSettings,
  maskSet: { masks: MaskSet; source: string } | null,
  calibration: QuantizeCalibration,
  options: OperationOptions,
): Promise<QuantizeReport> {
  return (await quantize(session, settings, maskSet, calibration, options, true)).report;
}

/**
 * A quantization beside the one in force (a sweep point): the caller owns the run and destroys its `gpu` and `masks`
 * buffers; the quantization in force stays.
 */
export function quantizeAside(
  session: LabSession,
  settings: QuantizeSettings,
  maskSet: { masks: MaskSet; source: string } | null,
  options: OperationOptions,
): Promise<QuantizeRun> {
  return quantize(session, settings, maskSet, {}, options, false);
}

/** Quantizes; `inForce` frees the quantization in force first and puts the new one in its place. */
async function quantize(
  session: LabSession,
  settings: QuantizeSettings,
  maskSet: { masks: MaskSet; source: string } | null,
  calibration: QuantizeCalibration,
  options: OperationOptions,
  inForce: boolean,
): Promise<QuantizeRun> {
  checkQuantizeSettings(settings);
  const mixed = settings.avgBits !== null;
  if ((settings.method === 'gptq' || mixed) && !calibration.windows?.length) {
    throw new QuantizeRequestError(`${settings.method === 'gptq' ? 'GPTQ' : 'mixed precision'} needs calibration windows (--text or --ids)`);
  }
  // With calibration, every run measures its matrices' errors (the report's `error`), uniform RTN included.
  const needsHessians = Boolean(calibration.windows?.length);
  const model = await session.model(options);
  const spec = model.spec;
  const stacks = expertStacks(model);
  for (const s of stacks) {
    if (s.cols % settings.groupSize) {
      const fitting = fittingGroupSizes(spec);
      throw new QuantizeRequestError(
        `group size ${settings.groupSize} does not divide the ${s.cols} input columns of ${s.matrix.name}` +
          (fitting.length ? ` (group sizes that divide every expert matrix of this model: ${fitting.join(', ')})` : ''),
      );
    }
  }
  if (inForce) releaseRun(session);
  const progress = (message: string, done: number, total: number) => options.onProgress?.(progressStep('compute', message, done, total));
  let calibrationInfo: CalibrationInfo | null = null;
  const masks = maskSet ? await uploadMasks(model, maskSet.masks) : null;
  try {
    const widths: QuantBits[] = mixed ? [...QUANT_BITS] : [settings.bits!];
    // candidates.get(stack)[w][z]: matrix z of the stack at widths[w]; errors likewise (with calibration).
    const candidates = new Map<ExpertStack, QuantizedMatrix[][]>();
    const errors = new Map<ExpertStack, number[][]>();
    let done = 0;
    // Layer l's stacks, its weights on the GPU (a streamed model's layer acquired), with its Hessians and routed-token counts when calibrated.
    const quantizeLayer = async (l: number, hessians: ExpertHessians | null, expertTokens: Float32Array | null) => {
      for (const stack of stacks.filter((s) => s.layer === l)) {
        options.signal?.throwIfAborted();
        progress(`Quantizing ${stack.matrix.name}`, done++, stacks.length);
        const weights = settings.method === 'gptq' || needsHessians ? await readStackWeights(model, stack) : null;
        const size = stack.rows * stack.cols;
        const sumsOf = (z: number) => (stack.key === 'experts.down' ? hessians!.inter[stack.expert(z)] : hessians!.input[stack.expert(z)]);
        const perWidth: QuantizedMatrix[][] = [];
        for (const bits of widths) {
          if (settings.method === 'rtn') {
            perWidth.push(await quantizeStackRtn(model, stack, masks?.layers[stack.layer]?.matrices[stack.key] ?? null, bits, settings.groupSize));
          } else {
            perWidth.push(
              Array.from({ length: stack.count }, (_, z) => {
                const tokens = expertTokens![stack.expert(z)];
                const H = scaledHessian(sumsOf(z), stack.cols, tokens);
                const w = weights!.subarray(z * size, (z + 1) * size);
                return gptqReference(w, stack.rows, stack.cols, H, {
                  bits,
                  groupSize: settings.groupSize,
                  damp: settings.damp,
                  keep: keepOf(maskSet?.masks ?? null, stack, z),
                }).matrix;
              }),
            );
          }
        }
        candidates.set(stack, perWidth);
        if (needsHessians) {
          // A masked weight counts as its dense value's loss too: the error is against the weights as loaded.
          errors.set(
            stack,
            perWidth.map((matrices) => matrices.map((m, z) => outputError(weights!.subarray(z * size, (z + 1) * size), m, sumsOf(z)))),
          );
        }
      }
    };
    if (needsHessians) {
      // Each layer is quantized as soon as its Hessians are summed (a streamed model: in the same pass, one layer up at a time).
      const windows = calibration.windows!;
      const stats = await routedHessians(model, windows, {
        tokensPerBatch: calibration.tokensPerBatch,
        signal: options.signal,
        onProgress: (p) => progress(`Calibrating: batch ${p.done} of ${p.total}`, p.done, p.total),
        onLayer: (l, hessians, layerStats) => quantizeLayer(l, hessians, layerStats.expertTokens),
      });
      calibrationInfo = {
        source: 'windows',
        ...calibration.info,
        mode: 'dense',
        tokens: stats.tokens,
        windows: windows.length,
        windowLength: windows[0].length,
      };
    } else {
      for (const l of new Set(stacks.map((s) => s.layer))) await model.withLayer(l, () => quantizeLayer(l, null, null));
    }
    // The chosen width index per stack and matrix.
    const chosen = new Map<ExpertStack, number[]>();
    if (mixed) {
      const items: AllocationItem[] = [];
      for (const stack of stacks) {
        for (let z = 0; z < stack.count; z++) items.push({ weights: stack.rows * stack.cols, errors: widths.map((_, w) => errors.get(stack)![w][z]) });
      }
      const allocate = settings.allocation === 'greedy' ? greedyAllocation : knapsackAllocation;
      let allocation;
      try {
        allocation = allocate(items, settings.avgBits!);
      } catch (error) {
        throw new QuantizeRequestError((error as Error).message);
      }
      let next = 0;
      for (const stack of stacks)
        chosen.set(
          stack,
          Array.from({ length: stack.count }, () => widths.indexOf(allocation.bits[next++])),
        );
    } else {
      for (const stack of stacks) chosen.set(stack, new Array<number>(stack.count).fill(0));
    }
    const quantized = new Map<ExpertStack, QuantizedMatrix[]>();
    const rows: QuantizedMatrixReport[] = [];
    const modelMatrices: QuantizedModel['matrices'] = [];
    const names = session.loaded.checkpoint.names;
    for (const stack of stacks) {
      const picks = chosen.get(stack)!;
      const matrices = picks.map((w, z) => candidates.get(stack)![w][z]);
      quantized.set(stack, matrices);
      matrices.forEach((m, z) => {
        const label = stack.label(z);
        rows.push({ label, layer: stack.layer, rows: m.rows, cols: m.cols, bits: m.bits, error: errors.get(stack)?.[picks[z]][z] ?? null });
        modelMatrices.push({ layer: stack.layer, label, ...checkpointPlace(names.layers[stack.layer].experts, stack, z), matrix: m });
      });
    }
    const gpu = await quantizedMaskSet(model, quantized, masks);
    const weightsTotal = rows.reduce((s, r) => s + r.rows * r.cols, 0);
    const achievedBits = rows.reduce((s, r) => s + r.bits * r.rows * r.cols, 0) / weightsTotal;
    const report: QuantizeReport = {
      method: settings.method,
      bits: settings.bits,
      avgBits: settings.avgBits,
      achievedBits,
      groupSize: settings.groupSize,
      allocation: mixed ? settings.allocation : null,
      error: needsHessians ? rows.reduce((s, r) => s + (r.error ?? 0), 0) : null,
      calibration: calibrationInfo,
      masks: maskSet?.source ?? null,
      matrices: rows,
      accounting: quantizeAccounting(spec, WEIGHT_BYTES[spec.dtype], rows, settings.groupSize),
    };
    const quantizedModel: QuantizedModel = {
      method: settings.method,
      bits: settings.bits ?? achievedBits,
      mixed,
      groupSize: settings.groupSize,
      matrices: modelMatrices,
    };
    const run = { model: quantizedModel, report, gpu, masks };
    if (inForce) runs.set(session, run);
    progress('Quantized', stacks.length, stacks.length);
    return run;
  } catch (error) {
    masks?.destroy();
    throw error;
  }
}

/** The checkpoint tensor and element offset of matrix z of a stack (fused layouts hold several matrices). */
function checkpointPlace(experts: ExpertNames | null, stack: ExpertStack, z: number): { tensor: string; elementOffset: number } {
  if (!experts) throw new RangeError(`layer ${stack.layer} has no routed experts in the checkpoint`);
  const size = stack.rows * stack.cols;
  if (experts.layout === 'fused') {
    return stack.key === 'experts.down' ? { tensor: experts.down, elementOffset: z * size } : { tensor: experts.gateUp, elementOffset: z * size };
  }
  if (experts.layout === 'gpt-oss') throw new QuantizeRequestError(`layer ${stack.layer}: gpt_oss experts (MXFP4) are not quantized by the lab`);
  const e = stack.expert(z);
  if (stack.key === 'experts.down') return { tensor: experts.down[e], elementOffset: 0 };
  return { tensor: (z & 1 ? experts.up : experts.gate)[e], elementOffset: 0 };
}

/** Perplexity of a token stream on the quantized model in force (the forward reads the dequantized weights). */
export async function quantizedPerplexity(
  session: LabSession,
  request: { ids: number[]; ctx: number; stride: number; maxTokens?: number; batch?: number },
  options: OperationOptions,
): Promise<PerplexityReport> {
  return perplexityUnder(session, quantizationInForce(session).gpu, request, options);
}

/** Perplexity of the loaded model under `masks` (null: dense; the quantization's replacement weights ride on its mask set). */
export async function perplexityUnder(
  session: LabSession,
  masks: GpuMaskSet | null,
  request: { ids: number[]; ctx: number; stride: number; maxTokens?: number; batch?: number },
  options: OperationOptions,
): Promise<PerplexityReport> {
  const model = await session.model(options);
  return evaluatePerplexity(model, request.ids, {
    ...request,
    masks,
    signal: options.signal,
    onProgress: (p) => options.onProgress?.(progressStep('compute', 'Perplexity', p.done, p.total)),
  });
}

/**
 * Writes the quantized model in force as a GPTQ checkpoint folder (src/engine/export/gptq-export.ts; layout in
 * docs/quantization.md), each file through `write`; returns the paths written.
 */
export async function writeQuantized(session: LabSession, write: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>): Promise<string[]> {
  const run = quantizationInForce(session);
  // Checked before the first byte is written, so a refused folder is not left half written.
  const problem = gptqFolderProblem(run.model);
  if (problem) throw new QuantizeRequestError(problem);
  const entries = await gptqModelEntries(session.loaded.checkpoint, run.model, new Map());
  for (const entry of entries) await write(entry.path, entry.chunks());
  return entries.map((e) => e.path);
}

/**
 * Why the GPTQ folder cannot hold `quantized`, or null when it can: GPTQ packs each matrix's codes into whole 32-bit
 * words along its input (src/engine/export/gptq-layout.ts), so input columns x bits must be a multiple of 32. The
 * quantized model itself (evaluation, the page's numbers) has no such limit; the default model's down projections
 * (12 input columns) fit at 8 bits, not at 4.
 */
export function gptqFolderProblem(quantized: QuantizedModel): string | null {
  for (const q of quantized.matrices) {
    const { rows, cols, bits, groupSize } = q.matrix;
    const problem = gptqShapeProblem(rows, cols, bits, groupSize);
    if (problem) {
      const fit = QUANT_BITS.filter((b) => gptqShapeProblem(rows, cols, b, groupSize) === null);
      return `the GPTQ folder cannot hold ${q.label}: ${problem}${fit.length ? ` (it fits at ${fit.join(', ')} bits)` : ''}`;
    }
  }
  return null;
}

/** `error` as the page reports it: a QuantizeRequestError becomes the engine's bad-request "Quantization: …"; others pass. */
export function quantizeEngineError(error: unknown): unknown {
  return error instanceof QuantizeRequestError ? new EngineError({ kind: 'bad-request', message: `Quantization: ${error.message}.` }) : error;
}
