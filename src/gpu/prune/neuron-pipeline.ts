/**
 * Neuron pruning on a GPU model (structure neurons; docs/pruning.md, "Neuron pruning"): dense statistics when the
 * score needs them (wanda, moe-pruner), then per MoE layer the routed experts' canonical weights read back once,
 * every neuron scored and the lowest floor(I * s) of each expert selected on the CPU by the engine's definition
 * (src/engine/prune/neurons.ts: one reduction per neuron over weights and one statistic, so no kernel), and the
 * resulting whole-row / whole-column keep-masks uploaded as the layer's canonical bitsets. The forward applies
 * them like any masks (`ppl --masks` of the dense model); the export removes the neurons (smaller tensors).
 */
import { maskBuffers, pruneAccounting } from '../../engine/prune/accounting.ts';
import { layerPieces } from '../../engine/prune/layer-plan.ts';
import { neuronMasks, neuronScores, neuronsDropped, selectNeurons, type NeuronMethod } from '../../engine/prune/neurons.ts';
import { decodeWeights } from '../../engine/prune/packing.ts';
import { layerSummary, moeLayerIndices, statsOf, uniformSparsity, type Allocation } from '../../engine/prune/pipeline-plan.ts';
import { needsCalibration, type PipelineSettings } from '../../engine/prune/pipeline-settings.ts';
import type { MaskSet } from '../../engine/model/mask-set.ts';
import { pruneReport, type NeuronReport } from '../../engine/prune/report.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import { GpuMaskSet, maskedMatrix, maskedMatrixInfo } from '../model/gpu-mask-set.ts';
import { WEIGHT_BYTES } from '../weights.ts';
import type { GpuLayerPruning } from './layer-masks.ts';
import { calibrationInfo, countPieces, denseStatistics, PipelineRun, progress, type PipelineCalibration, type PipelineOptions } from './pipeline-run.ts';

/** The canonical matrix read back from the GPU, widened to f32. */
async function readCanonical(model: GpuModel, l: number, key: 'experts.gate_up' | 'experts.down'): Promise<Float32Array> {
  const matrix = maskedMatrix(model, l, key);
  if (!matrix) throw new RangeError(`layers.${l}.${key}: the model has no such matrix`);
  return decodeWeights(new Uint8Array(await model.ctx.read(matrix.buffer)), matrix.dtype, matrix.elements);
}

/** Runs a neuron pruning (settings.structure === 'neurons', checked by checkPipelineSettings) on `model`. */
export async function neuronPipeline(
  model: GpuModel,
  settings: PipelineSettings,
  calibration: PipelineCalibration,
  options: PipelineOptions,
  started: number,
): Promise<PipelineRun> {
  const { spec, ctx } = model;
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
  const layers = moeLayerIndices(spec);
  const sparsity = uniformSparsity(settings);
  const stats = needsCalibration(settings)
    ? await denseStatistics(model, calibration, options, `${settings.method} neuron scores`)
    : (calibration.stats ?? null);
  const allocation: Allocation = { targets: new Map(layers.map((l) => [l, sparsity])), outlierRatios: null };
  const pruned: Omit<GpuLayerPruning, 'masks' | 'buffers'>[] = [];
  const neurons: NeuronReport = { ffn: I, keptFfn: I - neuronsDropped(I, sparsity), dropped: [] };
  const cpuMasks: MaskSet = { layers: spec.moeLayers.map(() => null) };
  const masks = GpuMaskSet.forModel(model);
  try {
    for (const l of layers) {
      options.signal?.throwIfAborted();
      const weights = await model.withLayer(l, async () => ({
        experts: E,
        ffn: I,
        hidden: H,
        gateUp: await readCanonical(model, l, 'experts.gate_up'),
        down: await readCanonical(model, l, 'experts.down'),
      }));
      const scores = neuronScores(settings.method as NeuronMethod, weights, statsOf(stats, l), l, settings.seed);
      const dropped = selectNeurons(scores, E, I, sparsity);
      const bits = neuronMasks(E, I, H, dropped);
      await masks.putHost(l, { matrices: { 'experts.gate_up': bits.gateUp, 'experts.down': bits.down }, expertEnabled: null, weights: {} });
      cpuMasks.layers[l] = { matrices: { 'experts.gate_up': bits.gateUp, 'experts.down': bits.down } };
      neurons.dropped.push({ layer: l, experts: dropped });
      pruned.push({ layer: l, pieces: layerPieces(spec, l, ['experts']), droppedPieces: [] });
      progress(options.onProgress, { phase: 'prune', done: pruned.length, total: layers.length, layer: l }, `Pruned the neurons of layer ${l}`);
    }
    progress(options.onProgress, { phase: 'report', done: 0, total: 1 }, 'Counting kept weights');
    const counts = await countPieces(model, masks, pruned);
    ctx.throwIfFailed();
    const summaries = layers.map((l) => layerSummary(l, allocation, { dropped: [], criterionValues: null }));
    const report = pruneReport(settings, calibrationInfo(calibration, stats, 'dense'), summaries, counts, (performance.now() - started) / 1000);
    const dtype = maskedMatrixInfo(model, layers[0], 'experts.gate_up')!.dtype;
    report.neurons = neurons;
    report.accounting = pruneAccounting(spec, { ...spec, expertFfnSize: neurons.keptFfn }, WEIGHT_BYTES[dtype], maskBuffers(cpuMasks));
    return new PipelineRun(
      model,
      masks,
      report,
      stats,
      new Map(),
      async () => null,
      () => {},
    );
  } catch (error) {
    masks.destroy();
    throw error;
  }
}
