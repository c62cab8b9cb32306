/**
 * What the engine keeps for the loaded model between calls: its weights on the GPU (uploaded at the first
 * computation, with progress; only the embedding and head when the weights exceed the GPU memory budget, the
 * layers then streaming through each pass), the last calibration statistics and the current pruning masks. Computations run one
 * at a time (a queue), so a new model never frees buffers a running pass still reads, and two passes never race
 * for the statistics or the masks.
 */
import type { ModelSummary, OperationOptions, Progress } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { CalibrationStats } from '../engine/calibration/stats.ts';
import type { Checkpoint } from '../engine/model/checkpoint.ts';
import { contextLimit } from '../engine/model/spec.ts';
import type { MaskSet, MatrixKey } from '../engine/model/mask-set.ts';
import type { PruneRequest, PruneSummary } from '../api/lab.ts';
import type { PruneReport } from '../engine/prune/report.ts';
import type { TextTokenizer } from '../engine/tokenizer.ts';
import type { GpuContext } from '../gpu/context.ts';
import { GpuModel, streamsOn } from '../gpu/model/gpu-model.ts';
import type { GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';

export interface LoadedModel {
  checkpoint: Checkpoint;
  summary: ModelSummary;
  tokenizer: TextTokenizer | null;
}

/** Calibration statistics and what they were computed from. */
export interface SessionStatistics {
  stats: CalibrationStats;
  /** Identifies the calibration settings (text, samples, length, seed): pruning reuses matching statistics. */
  key: string;
}

/** The pruning masks in force (on the GPU: the forward applies them), with what made them. */
export interface SessionMasks {
  gpu: GpuMaskSet;
  /** The page's request that made them; null for masks made from token windows or statistics (the CLI). */
  request: PruneRequest | null;
  /** The page's summary and the pipeline's report (prune-report.json). */
  summary: PruneSummary;
  report: PruneReport;
  /** The masks back on the CPU, for the masks file and the export. */
  readMaskSet(): Promise<MaskSet>;
  /** SparseGPT's updated weights of a canonical matrix (stored bytes), or null: the dense ones. */
  updatedWeights(layer: number, key: MatrixKey): Promise<Uint8Array | null>;
  /** Frees every GPU buffer of these masks (and of the updated weights). */
  destroy(): void;
}

export { contextLimit };

export function progressStep(stage: Progress['stage'], message: string, done: number, total: number): Progress {
  return { stage, message, done, total, unit: 'steps' };
}

/**
 * A computation's progress; passes that go layer by layer (a streamed model's layer-major passes, sequential
 * calibration) name the layer (0-based `layer`), so a streamed pass shows which layer it reads and computes.
 */
export function passStep(message: string, done: number, total: number, layer: number | undefined, layers: number): Progress {
  return progressStep('compute', layer === undefined ? message : `${message}: layer ${layer + 1} of ${layers}`, done, total);
}

export class LabSession {
  private gpuModel: Promise<GpuModel> | null = null;
  /** The model once uploaded (for the GPU panel's layer counts). */
  private uploaded: GpuModel | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private destroyed = false;
  statistics: SessionStatistics | null = null;
  masks: SessionMasks | null = null;

  constructor(
    readonly loaded: LoadedModel,
    private readonly gpu: () => Promise<GpuContext>,
  ) {}

  get name(): string {
    return this.loaded.summary.name;
  }

  /** The longest window the lab runs on this model (contextLimit). */
  get contextLimit(): number {
    return contextLimit(this.loaded.summary.spec);
  }

  /** The tokenizer, or an error saying what `purpose` needs it for. */
  tokenizer(purpose: string): TextTokenizer {
    if (this.loaded.tokenizer) return this.loaded.tokenizer;
    throw new EngineError({
      kind: 'no-tokenizer',
      message: `${this.name} has no tokenizer.json, so it cannot read text: ${purpose} needs one. Load a model with a tokenizer.`,
      file: `${this.loaded.checkpoint.folder.name}/tokenizer.json`,
    });
  }

  /** Runs `operation` after every earlier one has finished (or failed). */
  run<T>(operation: () => Promise<T>): Promise<T> {
    const next = this.queue.then(() => {
      if (this.destroyed) throw new EngineError({ kind: 'no-model', message: `${this.name} was unloaded; load a model again.` });
      return operation();
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** The weights on the GPU, uploaded once (progress in bytes). */
  async model(options: OperationOptions): Promise<GpuModel> {
    if (!this.gpuModel) {
      const { onProgress, signal } = options;
      const name = this.name;
      const checkpoint = this.loaded.checkpoint;
      this.gpuModel = this.gpu().then((ctx) =>
        GpuModel.upload(ctx, checkpoint, {
          signal,
          // Weights beyond the GPU memory budget stream layer by layer (docs/forward.md "Layer streaming").
          stream: streamsOn(ctx, checkpoint),
          onProgress: (p) =>
            onProgress?.({ stage: 'upload', message: `Uploading ${name} to the GPU: ${p.tensor}`, done: p.doneBytes, total: p.totalBytes, unit: 'bytes' }),
        }),
      );
      // A failed or cancelled upload is tried again by the next computation.
      this.gpuModel.then(
        (model) => (this.uploaded = model),
        () => (this.gpuModel = null),
      );
    }
    return this.gpuModel;
  }

  /** The model's decoder layers on the GPU now and at most at once (streamed or not); null before the upload. */
  layerResidency(): { streamed: boolean; resident: number; peak: number; total: number } | null {
    const model = this.uploaded;
    return model && { streamed: model.streamed, resident: model.layersResident, peak: model.layersResidentPeak, total: model.spec.numLayers };
  }

  /** Replaces the masks in force (null: dense again), freeing the previous GPU copies. */
  setMasks(masks: SessionMasks | null): void {
    this.masks?.destroy();
    this.masks = masks;
  }

  /** Frees the GPU copies once the computations already queued are done. */
  destroy(): Promise<void> {
    return this.run(async () => {
      this.destroyed = true;
      this.setMasks(null);
      const model = await this.gpuModel?.catch(() => null);
      model?.destroy();
      this.gpuModel = null;
      this.uploaded = null;
    }).catch(() => undefined);
  }
}
