/**
 * The in-thread Engine: what the worker hosts in the browser, and what Node code and tests call directly.
 * It owns the GPU context (one device for every later stage) and the loaded model.
 */
import type {
  StreamPlan,
  CapabilitiesReport,
  EmbeddedModel,
  Engine,
  GpuMemoryReport,
  ModelEstimate,
  ModelFileInfo,
  ModelFit,
  ModelSource,
  ModelSummary,
  OperationOptions,
  Progress,
} from '../api/engine.ts';
import { abortedError, EngineError, throwIfAborted } from '../api/errors.ts';
import type * as Lab from '../api/lab.ts';
import type { RecoverReport, RecoverRequest } from '../api/recover.ts';
import { Recovery } from '../gpu/distill/recover.ts';
import { DistillSession, type DistillSessionInput } from '../gpu/distill/session.ts';
import { checkSameModel } from '../engine/distill/scope.ts';
import { modelContentHash } from '../engine/experiment/model-hash.ts';
import type { Fetch } from '../engine/io/byte-source.ts';
import { browserModelCache, type CacheLike, type HubEstimate, type HubFolder, type HubProgress } from '../engine/io/hub-folder.ts';
import { rangeCachePlan, ReadMeter } from '../engine/io/range-cache.ts';
import { streamsUnder } from '../gpu/model/gpu-model.ts';
import { openPageGpu } from './page-gpu.ts';
import { safetensorsBytes, storageQuota, streamPlanOf } from './stream-plan.ts';
import { openCheckpoint, readText, type ModelFolder } from '../engine/model/checkpoint.ts';
import { parseConfigJson } from '../engine/model/config.ts';
import { countParameters, type MoeModelSpec } from '../engine/model/spec.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { ModelFileError } from '../engine/errors.ts';
import { summarizeCapabilities } from '../gpu/capabilities.ts';
import type { GpuContext } from '../gpu/context.ts';
import { GpuError } from '../gpu/errors.ts';
import { runCalibration } from './calibration.ts';
import { exportFiles } from './export.ts';
import { prunedFiles } from './prune-export.ts';
import { progressStep } from './lab-session.ts';
import { zipStored } from './zip.ts';
import { toEngineError } from './errors.ts';
import { runEvaluation, runGeneration, runTokenLoss } from './evaluate.ts';
import { benchmarksWithMaskSet, runBenchmarks } from './benchmarks.ts';
import type { BenchmarkReport, BenchmarkRequest } from '../api/benchmarks.ts';
import { runInspection } from './inspect.ts';
import { LabSession } from './lab-session.ts';
import { runPrune, runSweepPoint } from './prune.ts';
import { runMaskComparison } from './mask-compare.ts';
import { listModelFiles } from './model-files.ts';
import { modelFit } from './model-fit.ts';
import { downloadReporter } from './download-progress.ts';
import { fetchEmbeddedIndex, resolveSource, type ResolvedSource } from './sources.ts';
import { TextLibrary } from './texts.ts';
import { quantizationInForce, quantizedPerplexity, quantizeWithSettings, writeQuantized, type QuantizeCalibration } from './quantize.ts';
import type { QuantizedModel } from '../engine/quantize/quantized-matrix.ts';
import type { QuantizeReport } from '../engine/quantize/report.ts';
import type { QuantizeSettings } from '../engine/quantize/settings.ts';
import type { QuantizeRequest, QuantizeSummary } from '../api/quantize.ts';
import { quantizedFiles, runQuantize } from './quantize-page.ts';
import {
  generationWithMaskSet,
  idsComparison,
  idsLogits,
  idsPerplexity,
  pruneWithSettings,
  readMasksInForce,
  windowsCalibration,
  writePruned,
  type IdsComparisonReport,
  type IdsPerplexityRequest,
} from './token-runs.ts';
import type { CalibrationStats } from '../engine/calibration/stats.ts';
import type { PruneReportFile } from '../engine/export/pruned-export.ts';
import type { MaskSet } from '../engine/model/mask-set.ts';
import type { PipelineSettings } from '../engine/prune/pipeline-settings.ts';
import type { PruneReport } from '../engine/prune/report.ts';
import type { Checkpoint } from '../engine/model/checkpoint.ts';
import type { TextTokenizer } from '../engine/tokenizer.ts';
import type { PerplexityReport } from '../gpu/eval/perplexity.ts';
import type { PipelineCalibration } from '../gpu/prune/pipeline.ts';

export interface LabServiceOptions {
  /** Absolute URL of the site root; embedded models are under `${assetBase}models/`. */
  assetBase: string;
  fetch?: Fetch;
  /** Opens the GPU: navigator.gpu by default; Node passes Dawn's (src/gpu/node.ts). */
  openGpu?: () => Promise<GpuContext>;
  /** Where remote models are kept: Cache Storage by default, none in Node (then they are read by range). */
  openCache?: () => Promise<CacheLike | null>;
  /** The page's GPU memory budget in bytes (its `gpumem` URL parameter); absent: derived from the adapter (src/lab/page-gpu.ts). */
  gpuMemory?: number | null;
}

export class LabService implements Engine {
  private readonly fetchImpl: Fetch;
  private readonly openGpu: () => Promise<GpuContext>;
  private readonly openCache: () => Promise<CacheLike | null>;
  private gpu: Promise<GpuContext> | null = null;
  /** The loaded model and what was computed on it. */
  private session: LabSession | null = null;
  private readonly textLibrary: TextLibrary;
  /** Bumped by every load, so a slow load that finishes after a newer one never replaces it. */
  private loadGeneration = 0;
  /** The Recover step's distillation of each session (src/gpu/distill/recover.ts). */
  private readonly recoveries = new WeakMap<LabSession, Recovery>();

  constructor(private readonly options: LabServiceOptions) {
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.openGpu = options.openGpu ?? (() => openPageGpu(options.gpuMemory ?? null));
    this.openCache = options.openCache ?? browserModelCache;
    this.textLibrary = new TextLibrary(options.assetBase, this.fetchImpl);
  }

  capabilities(): Promise<CapabilitiesReport> {
    return typed(() => this.probeGpu());
  }

  embeddedModels(): Promise<EmbeddedModel[]> {
    return typed(() => fetchEmbeddedIndex(this.options.assetBase, this.fetchImpl));
  }

  estimateModel(source: ModelSource, options: OperationOptions = {}): Promise<ModelEstimate> {
    return typed(() => this.estimate(source, options));
  }

  loadModel(source: ModelSource, options: OperationOptions = {}): Promise<ModelSummary> {
    return typed(() => this.load(source, options));
  }

  /**
   * Loads a model from any folder (Node and tests: the CLI's folder on disk), exactly as loadModel loads the page's
   * sources once they are resolved. Not part of the Engine interface: a ModelFolder does not cross the worker boundary.
   */
  loadFolder(folder: ModelFolder, options: OperationOptions = {}): Promise<ModelSummary> {
    return typed(() => this.open({ folder, name: folder.name, hub: null }, ++this.loadGeneration, options));
  }

  async unloadModel(): Promise<void> {
    this.loadGeneration++;
    void this.replaceSession(null);
  }

  /** Frees the model and closes the GPU device (Node: the process can exit). The service cannot be used afterwards. */
  async dispose(): Promise<void> {
    this.loadGeneration++;
    await this.replaceSession(null);
    const context = await this.gpu?.catch(() => null);
    this.gpu = null;
    context?.destroy();
  }

  tokenize(text: string): Promise<number[]> {
    return typed(async () => {
      const { loaded } = this.requireSession();
      if (loaded.tokenizer) return loaded.tokenizer.encode(text);
      // Models without tokenizer.json (the random-weight test model) are driven by token ids only.
      throw new EngineError({
        kind: 'no-tokenizer',
        message: `${loaded.summary.name} has no tokenizer.json: it can only be run on token ids`,
        file: `${loaded.checkpoint.folder.name}/tokenizer.json`,
      });
    });
  }

  texts(): Promise<Lab.TextInfo[]> {
    return typed(() => this.textLibrary.catalog());
  }

  addText(text: string): Promise<Lab.AddedText> {
    return typed(() => this.textLibrary.add(text));
  }

  calibrate(request: Lab.CalibrationRequest, options: OperationOptions = {}): Promise<Lab.CalibrationSummary> {
    return this.compute((session) => runCalibration(session, this.textLibrary, request, options));
  }

  inspect(request: Lab.InspectRequest, options: OperationOptions = {}): Promise<Lab.RoutingReport> {
    return this.compute((session) => runInspection(session, this.textLibrary, request, options));
  }

  evaluate(request: Lab.EvaluateRequest, options: OperationOptions = {}): Promise<Lab.EvaluateReport> {
    return this.compute((session) => runEvaluation(session, this.textLibrary, request, options));
  }

  tokenLoss(request: Lab.TokenLossRequest, options: OperationOptions = {}): Promise<Lab.TokenLossReport> {
    return this.compute((session) => runTokenLoss(session, this.textLibrary, request, options));
  }

  generate(request: Lab.GenerateRequest, options: OperationOptions = {}): Promise<Lab.GenerateResult> {
    return this.compute((session) => runGeneration(session, request, options));
  }

  benchmark(request: BenchmarkRequest, options: OperationOptions = {}): Promise<BenchmarkReport> {
    return this.compute((session) => runBenchmarks(session, request, options));
  }

  prune(request: Lab.PruneRequest, options: OperationOptions = {}): Promise<Lab.PruneSummary> {
    return this.compute((session) => runPrune(session, this.textLibrary, request, options));
  }

  clearMasks(): Promise<void> {
    return this.compute(async (session) => session.setMasks(null));
  }

  sweepPoint(request: Lab.SweepPointRequest, options: OperationOptions = {}): Promise<Lab.SweepPointResult> {
    return this.compute((session) => runSweepPoint(session, this.textLibrary, request, options));
  }

  exportFiles(request: Lab.ExportRequest, options: OperationOptions = {}): Promise<Lab.ExportFile[]> {
    return this.compute((session) => exportFiles(session, request, options));
  }

  recover(request: RecoverRequest, options: OperationOptions = {}): Promise<RecoverReport> {
    return this.compute(async (session) => {
      if (!session.masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then recover.' });
      const tokenizer = session.tokenizer('distillation on a text');
      let recovery = this.recoveries.get(session);
      if (!recovery) this.recoveries.set(session, (recovery = new Recovery()));
      const inputs = {
        ctx: await this.gpuContext(),
        teacher: session.loaded.checkpoint,
        pruning: session.masks,
        prunedFiles: async () => (await prunedFiles(session, 'model', { signal: options.signal })).files,
        trainingTokens: () => this.textLibrary.stream(tokenizer, request.training.text, false),
        evaluationTokens: () => this.textLibrary.firstTokens(tokenizer, request.evaluation.text, request.evaluation.maxTokens, true),
      };
      return recovery.run(request, inputs, {
        signal: options.signal,
        onProgress: (p) => options.onProgress?.(progressStep('compute', p.message, p.step, p.total)),
      });
    });
  }

  exportRecovered(request: { zip: boolean }): Promise<Lab.ExportFile[]> {
    return this.compute(async (session) => {
      const recovery = this.recoveries.get(session);
      if (!recovery?.finished) throw new EngineError({ kind: 'bad-request', message: 'Nothing is distilled yet: run the Recover step to the end first.' });
      const files = await recovery.exportFiles();
      if (!request.zip) return files;
      const parts = zipStored(files.map((f) => ({ path: `${session.name.replace(/[^\w.-]+/g, '-')}-distilled/${f.path}`, bytes: f.bytes })));
      return [{ path: 'distilled.zip', bytes: new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()) }];
    });
  }

  compareMasks(request: Lab.CompareMasksRequest, options: OperationOptions = {}): Promise<Lab.MaskComparisonReport> {
    return this.compute((session) => runMaskComparison(session, this.textLibrary, request, options));
  }

  quantize(request: QuantizeRequest, options: OperationOptions = {}): Promise<QuantizeSummary> {
    return this.compute((session) => runQuantize(session, this.textLibrary, request, options));
  }

  exportQuantized(request: { zip: boolean }): Promise<Lab.ExportFile[]> {
    return this.compute((session) => quantizedFiles(session, request));
  }

  // Node: the loaded model's facts and computations on token ids and files (src/lab/token-runs.ts), for the CLI.
  // Not part of the Engine interface; they queue like every computation and throw the engine's own errors
  // (ModelFileError, PruneRequestError, GpuError) unchanged, for the CLI to report as it always has.

  /** The loaded model's summary (spec, content hash, tokenizer presence). */
  summary(): ModelSummary {
    return this.requireSession().loaded.summary;
  }

  /** The loaded checkpoint (headers read, tensors read on demand), for the CLI's file readers. */
  checkpoint(): Checkpoint {
    return this.requireSession().loaded.checkpoint;
  }

  /** The loaded model's tokenizer, or an error saying what `purpose` needs it for. */
  textTokenizer(purpose: string): TextTokenizer {
    return this.requireSession().tokenizer(purpose);
  }

  perplexityOfIds(request: IdsPerplexityRequest, options: OperationOptions = {}): Promise<PerplexityReport> {
    return this.queued((session) => idsPerplexity(session, request, options));
  }

  /** The pruned model (`request.masks`) against the dense one on the same windows: both perplexities and its fidelity. */
  comparisonOfIds(request: IdsPerplexityRequest & { masks: MaskSet }, options: OperationOptions = {}): Promise<IdsComparisonReport> {
    return this.queued((session) => idsComparison(session, request, options));
  }

  /** Logits and router logits of one sequence, dense or under `masks` (a masks file and/or steering). */
  logitsOfIds(
    ids: number[],
    options: OperationOptions = {},
    masks: MaskSet | null = null,
  ): Promise<{ logits: Float32Array; routerLogits: (Float32Array | null)[] }> {
    return this.queued((session) => idsLogits(session, ids, masks, options));
  }

  /** `moe-lab eval`: the benchmarks of the dense model, or of the model under a masks file (reported as 'pruned'). */
  benchmarksWithMaskSet(request: Omit<BenchmarkRequest, 'variants'>, masks: MaskSet | null, options: OperationOptions = {}): Promise<BenchmarkReport> {
    return this.queued((session) => benchmarksWithMaskSet(session, request, masks, options));
  }

  /** Generation from a text prompt under `masks` (a masks file and/or steering; null: dense). */
  generateWithMaskSet(request: Lab.GenerateRequest, masks: MaskSet | null, options: OperationOptions = {}): Promise<Lab.GenerateResult> {
    return this.queued((session) => generationWithMaskSet(session, request, masks, options));
  }

  calibrateWindows(
    windows: number[][],
    settings: { mode: Lab.CalibrationModeName; tokensPerBatch?: number },
    options: OperationOptions = {},
  ): Promise<CalibrationStats> {
    return this.queued((session) => windowsCalibration(session, windows, settings, options));
  }

  pruneWithSettings(
    settings: PipelineSettings,
    calibration: PipelineCalibration,
    options: OperationOptions = {},
  ): Promise<{ stats: CalibrationStats | null; report: PruneReport }> {
    return this.queued((session) => pruneWithSettings(session, settings, calibration, options));
  }

  readMasks(): Promise<MaskSet> {
    return this.queued((session) => readMasksInForce(session));
  }

  writePruned(
    name: string,
    write: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>,
    what: { model: boolean },
    options: OperationOptions = {},
  ): Promise<PruneReportFile> {
    return this.queued((session) => writePruned(session, name, write, what, options));
  }

  /** `moe-lab quantize`: quantizes the routed experts (under a masks file, when given) and keeps the result in force (src/lab/quantize.ts). */
  quantizeWithSettings(
    settings: QuantizeSettings,
    masks: { masks: MaskSet; source: string } | null,
    calibration: QuantizeCalibration,
    options: OperationOptions = {},
  ): Promise<QuantizeReport> {
    return this.queued((session) => quantizeWithSettings(session, settings, masks, calibration, options));
  }

  /** The quantized model in force (codes and scales per matrix), for its export and tests. */
  quantizedModel(): Promise<QuantizedModel> {
    return this.queued(async (session) => quantizationInForce(session).model);
  }

  /** Writes the quantized model in force as a GPTQ checkpoint folder, each file through `write`; the paths written. */
  writeQuantized(write: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>): Promise<string[]> {
    return this.queued((session) => writeQuantized(session, write));
  }

  /** Perplexity of token ids on the quantized model in force (dequantized in a shader). */
  quantizedPerplexityOfIds(
    request: { ids: number[]; ctx: number; stride: number; maxTokens?: number },
    options: OperationOptions = {},
  ): Promise<PerplexityReport> {
    return this.queued((session) => quantizedPerplexity(session, request, options));
  }

  /**
   * A distillation of `student` (a pruned copy of the loaded model: its folder with masks.safetensors, or zeros)
   * toward the loaded model, the teacher, on the service's GPU: `moe-lab distill`'s session, which the CLI drives
   * step by step (logs, Ctrl-C, saved states). The page's Recover step runs the same DistillSession through
   * `recover`, with the pruning in force as its student. Destroy it when done.
   */
  distillation(input: Omit<DistillSessionInput, 'teacher'>): Promise<DistillSession> {
    return this.queued(async (session) => {
      // Refuse a student that is not the teacher's network before anything is uploaded.
      this.checkStudent(input.student);
      return DistillSession.create(await this.gpuContext(), { ...input, teacher: session.loaded.checkpoint });
    });
  }

  /** Throws (ModelFileError, naming the student's config.json) unless `student` is the loaded model's network: the same family and shapes. */
  checkStudent(student: Checkpoint): void {
    const teacher = this.requireSession().loaded.checkpoint;
    checkSameModel(teacher.spec, student.spec, teacher.folder.name, `${student.folder.name}/config.json`);
  }

  /** Runs a computation on the loaded model after the ones already queued; its errors pass through unchanged. */
  private queued<T>(operation: (session: LabSession) => Promise<T>): Promise<T> {
    const session = this.requireSession();
    return session.run(() => operation(session));
  }

  /** Runs a computation on the loaded model, after the ones already queued, with typed errors. */
  private compute<T>(operation: (session: LabSession) => Promise<T>): Promise<T> {
    return typed(() => {
      const session = this.requireSession();
      return session.run(() => operation(session));
    });
  }

  /** Puts `session` in place; resolves when the old one's GPU copies are freed (after its queued computations). */
  private replaceSession(session: LabSession | null): Promise<void> {
    const old = this.session;
    const recovery = old && this.recoveries.get(old);
    if (recovery) void old!.run(async () => recovery.destroy()).catch(() => undefined);
    this.session = session;
    return old ? old.destroy() : Promise.resolve();
  }

  async gpuMemory(): Promise<GpuMemoryReport | null> {
    const context = this.gpu ? await this.gpu.catch(() => null) : null;
    if (!context) return null;
    const { resident, peak, buffers, budget } = context.memory;
    return { resident, peak, buffers, budget, layers: this.session?.layerResidency() ?? null };
  }

  private async probeGpu(): Promise<CapabilitiesReport> {
    try {
      const context = await this.gpuContext();
      return { available: true, caps: context.caps, summary: summarizeCapabilities(context.caps) };
    } catch (error) {
      if (error instanceof GpuError && error.kind === 'unavailable') return { available: false, reason: error.message };
      throw error;
    }
  }

  private async estimate(source: ModelSource, options: OperationOptions): Promise<ModelEstimate> {
    const { signal, onProgress } = options;
    const { folder, name, hub } = await this.resolve(source, signal);
    onProgress?.(step('estimate', `Reading ${name}: config.json and the file sizes`, 0, 1));
    const files = hub ? filesOfEstimate(await hub.estimate()) : await listModelFiles(folder);
    throwIfAborted(signal, `Estimating ${name}`);
    const spec = await readSpec(folder);
    const parameters = countParameters(spec);
    const streaming = hub ? await this.hubStreaming(hub, files) : null;
    onProgress?.(step('estimate', `Estimated ${name}`, 1, 1));
    return {
      name,
      spec,
      parameters,
      files,
      totalBytes: sumBytes(files),
      downloadBytes: hub && !streaming ? sumBytes(files.filter((f) => !f.cached)) : 0,
      fit: await this.fitOf(spec, parameters),
      streaming: streaming?.plan ?? null,
    };
  }

  private async load(source: ModelSource, options: OperationOptions): Promise<ModelSummary> {
    const generation = ++this.loadGeneration;
    const reporter = downloadReporter(options.onProgress);
    const resolved = await this.resolve(source, options.signal, reporter.report);
    const { folder, name, hub } = resolved;
    if (hub) {
      // Refuse a model that cannot run here before any large download.
      const files = filesOfEstimate(await hub.estimate());
      const spec = await readSpec(folder);
      this.refuseMisfit(name, await this.fitOf(spec, countParameters(spec)));
      // Above the GPU memory budget nothing is downloaded whole: each pass reads the layers by ranges.
      const streaming = await this.hubStreaming(hub, files);
      if (streaming) return this.open({ ...resolved, folder: streaming.folder }, generation, options, streaming.plan);
      reporter.start(name, files);
      await hub.download();
      throwIfAborted(options.signal, `Loading ${name}`);
    }
    return this.open(resolved, generation, options);
  }

  /**
   * A remote model whose weights exceed the GPU memory budget: its folder with the safetensors files read by ranges
   * (kept in Cache Storage block by block when the storage quota has room: src/engine/io/range-cache.ts) and the
   * plan the page shows; null when the model fits the budget (then it downloads whole, as before).
   */
  private async hubStreaming(hub: HubFolder, files: ModelFileInfo[]): Promise<{ folder: ModelFolder; plan: StreamPlan } | null> {
    const budget = await this.memoryBudget();
    // The weights are at most the safetensors files' bytes: under the budget, no header needs reading to know.
    if (budget === null || !streamsUnder(budget, safetensorsBytes(files))) return null;
    const cachePlan = rangeCachePlan((await this.openCache()) !== null, await storageQuota(), safetensorsBytes(files.filter((f) => !f.cached)));
    const meter = new ReadMeter();
    const folder = hub.ranged(cachePlan.cache, meter);
    // The headers, read by range (and metered: the read rate of the time estimate), give the exact weight bytes.
    const plan = streamPlanOf(await openCheckpoint(folder), budget, meter, cachePlan);
    return plan && { folder, plan };
  }

  /** The GPU memory budget of the context (the page's, or the CLI's --gpu-memory); null without one or without a GPU. */
  private async memoryBudget(): Promise<number | null> {
    const context = await this.gpuContext().catch(() => null);
    // A context stand-in with capabilities only (the Node tests of the fit check) has no memory accounting.
    return context?.memory?.budget ?? null;
  }

  /** Opens a resolved (and, for remote models, downloaded) folder as the new session. */
  private async open(
    { folder, name, hub }: ResolvedSource,
    generation: number,
    options: OperationOptions,
    streaming?: StreamPlan | null,
  ): Promise<ModelSummary> {
    const { signal, onProgress } = options;
    const what = `Loading ${name}`;
    onProgress?.(step('read', `Reading ${name}: config.json and safetensors headers`, 0, 3));
    const checkpoint = await openCheckpoint(folder);
    throwIfAborted(signal, what);
    onProgress?.(step('hash', `Hashing ${name}`, 1, 3));
    const contentHash = await modelContentHash(folder, checkpoint.files);
    throwIfAborted(signal, what);
    onProgress?.(step('read', `Listing the files of ${name}`, 2, 3));
    const files = hub ? filesOfEstimate(await hub.estimate()) : await listModelFiles(folder, checkpoint.files);
    // A tokenizer.json that cannot be used fails the load here, naming the file, rather than at the first text.
    const tokenizer = checkpoint.tokenizerJson
      ? loadTokenizer(checkpoint.tokenizerJson, checkpoint.tokenizerConfig ?? undefined, `${folder.name}/tokenizer.json`)
      : null;
    const parameters = countParameters(checkpoint.spec);
    const fit = await this.fitOf(checkpoint.spec, parameters);
    this.refuseMisfit(name, fit);
    throwIfAborted(signal, what);
    if (generation !== this.loadGeneration) throw abortedError(`${what} (a newer load replaced it)`);
    const summary: ModelSummary = {
      name,
      spec: checkpoint.spec,
      parameters,
      dtype: checkpoint.spec.dtype,
      files,
      totalBytes: sumBytes(files),
      contentHash,
      tokenizer: checkpoint.tokenizerJson !== null,
      fit,
      streaming: streaming !== undefined ? streaming : streamPlanOf(checkpoint, await this.memoryBudget(), null, null),
    };
    void this.replaceSession(new LabSession({ checkpoint, summary, tokenizer }, () => this.gpuContext()));
    onProgress?.(step('read', `Loaded ${name}`, 3, 3));
    return summary;
  }

  private requireSession(): LabSession {
    if (!this.session) throw new EngineError({ kind: 'no-model', message: 'No model is loaded: load one first.' });
    return this.session;
  }

  /** The GPU context, opened once and reopened after a device loss. */
  private async gpuContext(): Promise<GpuContext> {
    if (this.gpu) {
      const context = await this.gpu.catch(() => null);
      if (context && !context.lostError) return context;
    }
    this.gpu = this.openGpu();
    return this.gpu;
  }

  private refuseMisfit(name: string, fit: ModelFit | null): void {
    if (fit && !fit.fits) throw new EngineError({ kind: 'gpu', detail: 'limits', message: `${name} does not fit this GPU: ${fit.problems.join(' ')}` });
  }

  /** The folder behind `source`, its fetches bound to `signal`; remote models download into Cache Storage. */
  private async resolve(source: ModelSource, signal: AbortSignal | undefined, onDownload?: (p: HubProgress) => void): Promise<ResolvedSource> {
    const cache = source.kind === 'hub' ? await this.openCache() : null;
    return resolveSource(source, { assetBase: this.options.assetBase, fetch: this.fetchFor(signal), signal, cache, onDownload });
  }

  /** The fit against this adapter's limits, or null without a GPU (the page says so elsewhere). */
  private async fitOf(spec: ModelSummary['spec'], parameters: ModelSummary['parameters']): Promise<ModelFit | null> {
    const report = await this.probeGpu();
    return report.available ? modelFit(spec, parameters, report.caps.limits) : null;
  }

  /** fetch bound to an operation's signal, so cancelling stops its downloads too. */
  private fetchFor(signal: AbortSignal | undefined): Fetch {
    return signal ? (input, init) => this.fetchImpl(input, { ...init, signal }) : this.fetchImpl;
  }
}

/** Runs `operation`, turning whatever it throws into the EngineError the interface promises. */
async function typed<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw toEngineError(error);
  }
}

async function readSpec(folder: ModelFolder): Promise<MoeModelSpec> {
  const config = await folder.open('config.json');
  if (!config) throw new ModelFileError(`${folder.name}/config.json`, 'missing-file', 'file not found (every Hugging Face model folder has one)');
  return parseConfigJson(config.name, await readText(config));
}

function filesOfEstimate(estimate: HubEstimate): ModelFileInfo[] {
  return estimate.files.map((f) => ({ file: f.path, bytes: f.size ?? 0, cached: f.cached }));
}

function sumBytes(files: readonly ModelFileInfo[]): number {
  return files.reduce((n, f) => n + f.bytes, 0);
}

function step(stage: Progress['stage'], message: string, done: number, total: number): Progress {
  return { stage, message, done, total, unit: 'steps' };
}
