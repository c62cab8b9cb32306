/**
 * The Engine interface: everything the page asks of the lab's engine. One interface, two ways to reach it
 * (docs/architecture.md, after web-llm's MLCEngineInterface + WebWorkerMLCEngine): called in-thread in Node and in tests
 * (src/lab/lab-service.ts), and through a Web Worker in the browser (src/worker/client.ts), so the page never
 * blocks. Every value here is structured-cloneable; every failure is an EngineError (src/api/errors.ts).
 *
 * To grow it (forward, calibrate, prune, evaluate): add the method here, its wire entry to EngineCalls in
 * src/worker/protocol.ts, and its case to the host's dispatch; the compiler lists what is missing.
 */
import type { GpuCapabilities } from './gpu-capabilities.ts';
import type { MoeModelSpec, ParameterCounts, WeightDtype } from '../engine/model/spec.ts';
import type * as Lab from './lab.ts';
import type { RecoverReport, RecoverRequest } from './recover.ts';
import type { BenchmarkReport, BenchmarkRequest } from './benchmarks.ts';
import type { QuantizeRequest, QuantizeSummary } from './quantize.ts';

/** How far a long operation has got; the page shows `message` and a bar for done / total. */
export interface Progress {
  stage: ProgressStage;
  /** One short line: "Downloading model.safetensors", "Reading safetensors headers". */
  message: string;
  done: number;
  total: number;
  unit: 'bytes' | 'steps';
  /** Per-file detail when files move (downloads); absent otherwise. */
  files?: FileProgress[];
}

export type ProgressStage = 'estimate' | 'download' | 'read' | 'hash' | 'upload' | 'compute';

export interface FileProgress {
  file: string;
  loaded: number;
  total: number;
  /** Served from Cache Storage rather than the network. */
  cached?: boolean;
}

/** What every long operation accepts. `signal` cancels: the operation rejects with kind 'aborted'. */
export interface OperationOptions {
  onProgress?(progress: Progress): void;
  signal?: AbortSignal;
}

/**
 * Where a model comes from: an embedded model shipped under public/models (by the id in its index.json),
 * files the user dropped or picked (File objects, cloneable into the worker), or a Hugging Face repo id or URL
 * (`org/name`, `org/name@revision`, `https://huggingface.co/org/name`).
 */
export type ModelSource = { kind: 'embedded'; id: string } | { kind: 'files'; files: DroppedFile[] } | { kind: 'hub'; repo: string };

/** A picked file (its webkitRelativePath, else its name, is its path), or a dropped one with the path found by walking the dropped folder. */
export type DroppedFile = File | { path: string; file: File };

/** One entry of public/models/index.json. */
export interface EmbeddedModel {
  id: string;
  name: string;
  /** Folder relative to the site root, e.g. "models/test-tiny-mixtral". */
  path: string;
  default?: boolean;
  description: string;
  /**
   * The expert the guided tour switches off in every layer: one whose absence changes the greedy continuation of
   * LESSON_GENERATION (src/engine/experiment/vocabulary.ts). `npm run train:default` measures it for the model it
   * trains; absent, the tour switches off expert 0.
   */
  lessonExpert?: number;
}

export type CapabilitiesReport = { available: true; caps: GpuCapabilities; summary: string } | { available: false; reason: string };

export interface ModelFileInfo {
  file: string;
  bytes: number;
  cached?: boolean;
}

/**
 * How a model compares with the adapter's limits. The binding that must hold the largest single weight buffer
 * decides: one layer's stacked experts gate_up [E, 2I, H], or the embedding / LM head [V, H].
 */
export interface ModelFit {
  fits: boolean;
  largestBuffer: { what: string; bytes: number };
  limit: { name: 'maxStorageBufferBindingSize'; bytes: number };
  /** Weights the GPU must hold in all, in their stored dtype (masks and activations come on top). */
  weightBytes: number;
  /** Empty when it fits; otherwise one line per problem. */
  problems: string[];
}

/** What the page can tell before downloading: from config.json and the file sizes alone. */
export interface ModelEstimate {
  name: string;
  spec: MoeModelSpec;
  parameters: ParameterCounts;
  files: ModelFileInfo[];
  totalBytes: number;
  /** Bytes still to download (not in Cache Storage, not local). */
  downloadBytes: number;
  /** Null when there is no GPU to compare with. */
  fit: ModelFit | null;
  /** Set when the weights exceed the GPU memory budget: the model will load in streaming mode. */
  streaming?: StreamPlan | null;
}

/**
 * A model whose weights exceed the GPU memory budget streams its decoder layers through every pass (docs/forward.md
 * "Layer streaming"); this is what the page tells before loading it (docs/ui.md, "Streaming mode").
 */
export interface StreamPlan {
  /** Weight bytes the GPU model reads from the checkpoint (checkpointWeightBytes). */
  weightBytes: number;
  /** The GPU memory budget: the most the lab will hold on the GPU at once. */
  budget: number;
  layers: number;
  /** Weight bytes of one decoder layer on average: one is on the GPU at a time, the next one read ahead in host memory. */
  layerBytes: number;
  /** The read rate the time estimate uses and what it was measured on; null before anything was read. */
  readRate: { bytesPerSecond: number; measured: string } | null;
  /** Seconds to read the weights once at that rate (every streamed pass reads them all; computing comes on top). */
  secondsPerPass: number | null;
  /** Remote weights: whether fetched ranges are kept in Cache Storage, and why not; null for local files. */
  cache: { kept: boolean; message: string | null } | null;
}

/** A loaded model, as the page shows it. */
export interface ModelSummary {
  /** The embedded model's name, the repo id, or the dropped folder's name. */
  name: string;
  spec: MoeModelSpec;
  parameters: ParameterCounts;
  dtype: WeightDtype;
  /** config.json, the safetensors files, tokenizer files when present. */
  files: ModelFileInfo[];
  totalBytes: number;
  /** SHA-256 (hex) of config.json and the safetensors headers: see docs/ui.md and src/engine/experiment/model-hash.ts. */
  contentHash: string;
  tokenizer: boolean;
  fit: ModelFit | null;
  /** Set when the weights exceed the GPU memory budget and the layers stream through each pass. */
  streaming?: StreamPlan | null;
}

/** What the engine holds on the GPU (src/gpu/memory.ts): bytes in buffers now and at most since the GPU opened, and the budget. */
export interface GpuMemoryReport {
  resident: number;
  peak: number;
  buffers: number;
  /** null: no budget but the adapter's own limits. */
  budget: number | null;
  /** The loaded model's decoder layers on the GPU now and at most at once, of `total` (null before it went to the GPU). */
  layers?: { streamed: boolean; resident: number; peak: number; total: number } | null;
}

export interface Engine {
  /** The WebGPU adapter the engine computes on, or why there is none. Never rejects for a missing GPU. */
  capabilities(): Promise<CapabilitiesReport>;
  /** The models shipped with the page (public/models/index.json). */
  embeddedModels(): Promise<EmbeddedModel[]>;
  /** Size and fit of a model before any large download (reads config.json and file sizes only). */
  estimateModel(source: ModelSource, options?: OperationOptions): Promise<ModelEstimate>;
  /** Opens and validates a model; replaces the loaded one only when it succeeds. */
  loadModel(source: ModelSource, options?: OperationOptions): Promise<ModelSummary>;
  unloadModel(): Promise<void>;
  /** Bytes on the GPU now and at most (null before the GPU is opened). */
  gpuMemory(): Promise<GpuMemoryReport | null>;
  /** Token ids of `text` with the loaded model's tokenizer. */
  tokenize(text: string, options?: OperationOptions): Promise<number[]>;

  /** The page's texts (public/data/index.json) with their genres. */
  texts(): Promise<Lab.TextInfo[]>;
  /** Keeps a pasted or uploaded text in the engine; later requests name it by the returned hash. */
  addText(text: string): Promise<Lab.AddedText>;
  /** Dense calibration statistics of the loaded model on windows drawn from a text; kept for pruning. */
  calibrate(request: Lab.CalibrationRequest, options?: OperationOptions): Promise<Lab.CalibrationSummary>;
  /** Routing of the first tokens of a text, dense and (when pruned) pruned, summarized for the inspector. */
  inspect(request: Lab.InspectRequest, options?: OperationOptions): Promise<Lab.RoutingReport>;
  /** Perplexity of the dense and/or pruned model on a text, per genre when asked. */
  evaluate(request: Lab.EvaluateRequest, options?: OperationOptions): Promise<Lab.EvaluateReport>;
  /** Per-token loss of the dense and (when pruned) pruned model on the first tokens of a text. */
  tokenLoss(request: Lab.TokenLossRequest, options?: OperationOptions): Promise<Lab.TokenLossReport>;
  /** Zero-shot benchmarks by log-likelihood (BLiMP minimal pairs, multiple choice), dense and/or pruned (docs/evaluation.md). */
  benchmark(request: BenchmarkRequest, options?: OperationOptions): Promise<BenchmarkReport>;
  /** Continues a prompt with the dense or the pruned model; progress messages carry the text so far. */
  generate(request: Lab.GenerateRequest, options?: OperationOptions): Promise<Lab.GenerateResult>;
  /** Computes pruning masks (calibrating first when needed) and applies them from now on; the weights stay dense. */
  prune(request: Lab.PruneRequest, options?: OperationOptions): Promise<Lab.PruneSummary>;
  /** Drops the masks: the model is dense again. */
  clearMasks(): Promise<void>;
  /** Perplexity of the model pruned as `request.prune` says, leaving the masks in force untouched (for sweeps). */
  sweepPoint(request: Lab.SweepPointRequest, options?: OperationOptions): Promise<Lab.SweepPointResult>;
  /** Files to download (statistics, masks, the pruned model folder, the report), one by one or as one zip. */
  exportFiles(request: Lab.ExportRequest, options?: OperationOptions): Promise<Lab.ExportFile[]>;
  /** Recover step: distills the pruned model toward the dense one up to request.untilStep, continuing a run with the same settings. */
  recover(request: RecoverRequest, options?: OperationOptions): Promise<RecoverReport>;
  /** The distilled model folder with distill-report.json and the curves, as files or one zip. */
  exportRecovered(request: { zip: boolean }, options?: OperationOptions): Promise<Lab.ExportFile[]>;
  /** Where the masks in force and the masks another pruning request would make disagree; the masks in force stay. */
  compareMasks(request: Lab.CompareMasksRequest, options?: OperationOptions): Promise<Lab.MaskComparisonReport>;
  /** Quantizes the routed experts (under the masks in force) and measures the quantized perplexity; the quantization stays in force for its export. */
  quantize(request: QuantizeRequest, options?: OperationOptions): Promise<QuantizeSummary>;
  /** The quantized model in force as a GPTQ checkpoint folder with quantize-report.json, as files or one zip. */
  exportQuantized(request: { zip: boolean }, options?: OperationOptions): Promise<Lab.ExportFile[]>;
}
