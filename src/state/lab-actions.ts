/**
 * Named actions of the lab's computations (calibrate, inspect, evaluate, per-token loss, generation, downloads):
 * each runs one Engine call with progress and a Cancel, records its result with the key of the settings it came
 * from, and leaves the previous result in place when it fails or is cancelled.
 */
import type { Engine, OperationOptions } from '../api/engine.ts';
import type { BenchmarkRequest, BenchmarkTaskInput } from '../api/benchmarks.ts';
import type { EngineErrorInfo } from '../api/errors.ts';
import type { ExpertSwitch, ExportFile, ExportRequest, InspectRequest, PruneMethodName, Sampling, Variant } from '../api/lab.ts';
import { textRefOf } from '../engine/experiment/text-ref.ts';
import { freshnessKey, recoverRequest, REPRODUCE_EVALUATION } from '../api/experiment-requests.ts';
import { contextLimit } from '../engine/model/spec.ts';
import {
  calibrationKey,
  calibrationRequest,
  evaluatedVariants,
  evaluateKey,
  evaluateRequest,
  pruneKey,
  pruneRequest,
  quantizeKey,
  recoverKeyOf,
} from './requests.ts';
import { quantizeRequest } from '../api/quantize.ts';
import type { QuantBits } from '../engine/quantize/quantized-matrix.ts';
import { idleTasks, type GenerationColumn, type LabStore, type LabTasks, type SweepResult, type TaskName, type TaskState } from './store.ts';

export function errorInfo(error: unknown): EngineErrorInfo {
  const e = error as Partial<EngineErrorInfo> | null;
  return typeof e?.kind === 'string' && typeof e.message === 'string'
    ? { kind: e.kind, message: e.message, ...(e.file ? { file: e.file } : {}) }
    : { kind: 'internal', message: String((error as Error)?.message ?? error) };
}

export type InspectSettings = InspectRequest;

/** Benchmark items a sweep also scores (the Benchmarks step's selection). */
export type BenchmarkTasks = Pick<BenchmarkRequest, 'tasks' | 'limit'>;

export function createTaskActions(store: LabStore, engine: Engine, onNote?: (text: string) => void) {
  const get = store.getState;
  const set = store.setState;
  const controllers = new Map<TaskName, AbortController>();

  const patchTask = <K extends TaskName>(name: K, patch: Partial<LabTasks[K]>) =>
    set((s) => ({ tasks: { ...s.tasks, [name]: { ...s.tasks[name], ...patch } } }));

  const modelHash = () => get().model?.contentHash ?? null;

  /**
   * Runs `call` as task `name` (cancelling a run of the same task in progress). Resolves with the result, or null
   * when it failed (the error is in the task) or was cancelled or replaced.
   */
  async function runTask<K extends TaskName>(
    name: K,
    key: string,
    call: (options: OperationOptions) => Promise<NonNullable<LabTasks[K]['result']>>,
  ): Promise<NonNullable<LabTasks[K]['result']> | null> {
    controllers.get(name)?.abort();
    const controller = new AbortController();
    controllers.set(name, controller);
    const current = () => controllers.get(name) === controller;
    patchTask(name, { running: { progress: null }, error: null } as Partial<LabTasks[K]>);
    try {
      const result = await call({
        signal: controller.signal,
        onProgress: (progress) => {
          if (current()) patchTask(name, { running: { progress } } as Partial<LabTasks[K]>);
        },
      });
      if (!current()) return null;
      patchTask(name, { result, key, running: null } as Partial<LabTasks[K]>);
      return result;
    } catch (error) {
      if (!current()) return null;
      const info = errorInfo(error);
      patchTask(name, { running: null, error: info.kind === 'aborted' ? null : info } as Partial<LabTasks[K]>);
      return null;
    } finally {
      if (current()) controllers.delete(name);
      void refreshGpuMemory();
    }
  }

  /** Reads what the engine holds on the GPU (shown on the GPU panel); a failure to ask leaves the last reading. */
  async function refreshGpuMemory(): Promise<void> {
    try {
      set({ gpuMemory: await engine.gpuMemory() });
    } catch {
      // The reading is informative only.
    }
  }

  const actions = {
    refreshGpuMemory,

    /** Forgets every result: they belong to the model that was loaded. */
    resetTasks(): void {
      for (const controller of controllers.values()) controller.abort();
      controllers.clear();
      set({ tasks: idleTasks(), variant: 'dense', masksKey: null });
    },

    cancelTask(name: TaskName): void {
      controllers.get(name)?.abort();
    },

    /** The page's texts for the pickers; without them the pickers offer pasted text only. */
    async loadTexts(): Promise<void> {
      try {
        set({ texts: await engine.texts() });
      } catch {
        set({ texts: [] });
      }
    },

    /**
     * Gives a pasted or uploaded text to the engine and returns its hash (null when refused: the error shows on
     * the task `forTask`).
     */
    async addText(text: string, name: string, forTask: 'calibrate' | 'evaluate'): Promise<string | null> {
      try {
        const added = await engine.addText(text);
        const linked = get().experiment[forTask === 'calibrate' ? 'calibration' : 'evaluation'].text;
        if (linked.kind === 'pasted' && linked.hash !== added.hash && !get().addedTexts.some((t) => t.hash === linked.hash)) {
          onNote?.(`The text given hashes to ${added.hash}, not to the link's ${linked.hash}: it is another text, so results will differ from the link's.`);
        }
        set((s) => ({ addedTexts: [...s.addedTexts.filter((t) => t.hash !== added.hash), { hash: added.hash, name, bytes: added.bytes }] }));
        return added.hash;
      } catch (error) {
        patchTask(forTask, { error: errorInfo(error) });
        return null;
      }
    },

    async calibrate(): Promise<boolean> {
      const { experiment } = get();
      const key = calibrationKey(experiment, modelHash());
      const result = await runTask('calibrate', key, (options) => engine.calibrate(calibrationRequest(experiment), options));
      return result !== null;
    },

    async inspect(request: InspectSettings): Promise<void> {
      const masksKey = get().masksKey;
      const key = freshnessKey({ model: modelHash(), inspect: request, masks: masksKey });
      await runTask('inspect', key, (options) => engine.inspect(request, options));
    },

    /** Perplexity of the dense model, and of the pruned one when masks are in force. */
    async evaluate(byGenre: boolean): Promise<boolean> {
      const { experiment, masksKey } = get();
      const variants = evaluatedVariants(masksKey);
      const key = evaluateKey(experiment, modelHash(), masksKey, byGenre);
      return (await runTask('evaluate', key, (options) => engine.evaluate(evaluateRequest(experiment, variants, byGenre), options))) !== null;
    },

    /**
     * Zero-shot benchmarks on task files (BLiMP pairs, multiple choice) for the dense model and, when masks are in
     * force, the pruned one: the same items and sequences, every item kept so the page can list the flipped ones.
     */
    async benchmark(tasks: BenchmarkTaskInput[], limit?: number): Promise<void> {
      const { masksKey } = get();
      const request = { tasks, limit, variants: evaluatedVariants(masksKey), perItem: true };
      const files = tasks.map((t) => ({ file: t.file, bytes: t.text.length }));
      const key = freshnessKey({ model: modelHash(), benchmark: { files, limit }, masks: masksKey });
      await runTask('benchmark', key, (options) => engine.benchmark(request, options));
    },

    async tokenLoss(tokens: number): Promise<void> {
      const { experiment, masksKey } = get();
      const request = { text: textRefOf(experiment.evaluation.text), tokens };
      await runTask('tokenLoss', freshnessKey({ model: modelHash(), tokenLoss: request, masks: masksKey }), (options) => engine.tokenLoss(request, options));
    },

    /**
     * The dense and (when pruned) the pruned continuation of one prompt, one after the other, text streaming in; with
     * experts switched off (`disabledExperts`) or forced (`forcedExperts`; steering) also the dense model steered, as a
     * third column.
     */
    async generate(
      prompt: string,
      maxNewTokens: number,
      sampling: Sampling,
      disabledExperts: ExpertSwitch[] = [],
      forcedExperts: ExpertSwitch[] = [],
    ): Promise<void> {
      const steering = { disabledExperts, forcedExperts };
      const steered = disabledExperts.length > 0 || forcedExperts.length > 0;
      const columns: GenerationColumn[] = [...evaluatedVariants(get().masksKey), ...(steered ? (['steered'] as const) : [])];
      const slots: LabTasks['generate']['result'] = { dense: null, pruned: null, steered: null };
      const key = freshnessKey({ model: modelHash(), generate: { prompt, maxNewTokens, sampling, ...steering } });
      await runTask('generate', key, async (options) => {
        for (const column of columns) {
          const variant = column === 'steered' ? 'dense' : column;
          slots[column] = { partial: '', result: null };
          const result = await engine.generate(
            { prompt, maxNewTokens, sampling, variant, ...(column === 'steered' ? steering : {}) },
            {
              signal: options.signal,
              onProgress: (progress) => {
                slots[column] = { partial: progress.message, result: null };
                patchTask('generate', { result: { ...slots } });
                options.onProgress?.(progress);
              },
            },
          );
          slots[column] = { partial: result.text, result };
          patchTask('generate', { result: { ...slots } });
        }
        return { ...slots };
      });
    },

    /** Files from the engine (null when it failed: the error shows on the export task). */
    async exportFiles(request: ExportRequest): Promise<ExportFile[] | null> {
      let files: ExportFile[] | null = null;
      await runTask('export', request.kind, async (options) => {
        files = await engine.exportFiles(request, options);
        return request.kind;
      });
      return files;
    },

    /**
     * Prunes as the experiment says (the engine calibrates first when its statistics do not match) and applies the
     * masks from now on; the views switch to the pruned model.
     */
    async prune(): Promise<boolean> {
      // New masks end a Recover run of the old ones (its report no longer matches: the key holds the masks).
      controllers.get('recover')?.abort();
      const { experiment } = get();
      const key = pruneKey(experiment, modelHash());
      const summary = await runTask('prune', key, (options) => engine.prune(pruneRequest(experiment), options));
      if (!summary) return false;
      if (summary.calibration) patchTask('calibrate', { result: summary.calibration, key: calibrationKey(experiment, modelHash()), error: null });
      set({ masksKey: key, variant: 'pruned' });
      return true;
    },

    /**
     * Where the masks in force and the masks `method` would make with the experiment's other settings disagree, per
     * layer, matrix and expert; the masks in force stay (keyed by them and the method).
     */
    async compareMasks(method: PruneMethodName): Promise<void> {
      const { experiment, masksKey } = get();
      const other = { ...pruneRequest(experiment), method };
      await runTask('compareMasks', freshnessKey({ model: modelHash(), masks: masksKey, other }), (options) => engine.compareMasks({ other }, options));
    },

    /** Back to the dense model (the masks are dropped in the engine). */
    async clearMasks(): Promise<void> {
      controllers.get('recover')?.abort();
      await engine.clearMasks().catch(() => undefined);
      set((s) => ({ masksKey: null, variant: 'dense', tasks: { ...s.tasks, prune: { ...s.tasks.prune, result: null, key: null } } }));
    },

    /**
     * Reproduces the experiment end to end: prune (calibrating as needed), then perplexity of the dense and the
     * pruned model — what a shared link's reader presses to get the same masks and numbers. With `benchmark` (the
     * task file of the link's Benchmarks selection, reproduceBenchmark in src/api/experiment-requests.ts, read by the
     * caller) the dense and the pruned model then score its items, as `moe-lab run` does.
     */
    async runExperiment(byGenre: boolean = REPRODUCE_EVALUATION.byGenre, benchmark?: BenchmarkTasks): Promise<void> {
      if (!(await actions.prune())) return;
      await actions.evaluate(byGenre);
      if (benchmark) await actions.benchmark(benchmark.tasks, benchmark.limit);
      // A link with quantization settings (qbits=...) reproduces the quantized model too.
      if (get().experiment.quantize.bits !== 'none') await actions.quantize();
    },

    /**
     * Quantizes the routed experts as the experiment's quantize section says, under the masks in force (none: the
     * dense model), and measures the quantized perplexity on the evaluation text; keyed by the masks too.
     */
    async quantize(): Promise<boolean> {
      const { experiment, masksKey } = get();
      const request = quantizeRequest(experiment);
      return (await runTask('quantize', quantizeKey(experiment, modelHash(), masksKey), (options) => engine.quantize(request, options))) !== null;
    },

    /** The quantized model as a GPTQ checkpoint folder with its report, one zip (null when it failed: the error shows on the task). */
    async exportQuantized(): Promise<ExportFile[] | null> {
      try {
        return await engine.exportQuantized({ zip: true });
      } catch (error) {
        patchTask('quantize', { error: errorInfo(error) });
        return null;
      }
    },

    /**
     * Perplexity under each method x sparsity on the evaluation windows, plus the dense model's once; with benchmark
     * items (the Benchmarks step's selection) also their accuracy per point and the dense model's; points appear as
     * they come, Cancel keeps those already measured. The masks in force are not touched.
     */
    async sweep(methods: PruneMethodName[], sparsities: number[], benchmark?: BenchmarkTasks, quantBits: QuantBits[] = []): Promise<void> {
      const { experiment } = get();
      const partial: SweepResult = { methods, sparsities, quantBits, dense: null, denseBenchmark: null, points: [] };
      const evaluate = { text: evaluateRequest(experiment, ['dense'], false).text, ctx: experiment.evaluation.ctx, maxTokens: experiment.evaluation.maxTokens };
      const benchmarkKey = benchmark && { files: benchmark.tasks.map((t) => ({ file: t.file, bytes: t.text.length })), limit: benchmark.limit };
      const key = freshnessKey({
        prune: pruneKey(experiment, modelHash()),
        methods,
        sparsities,
        evaluate: evaluateKey(experiment, modelHash(), null, false),
        benchmark: benchmarkKey,
        quantBits,
        // Quantization points are measured under the masks in force.
        masks: quantBits.length ? get().masksKey : null,
      });
      const total = methods.length * sparsities.length + quantBits.length + 1;
      await runTask('sweep', key, async (options) => {
        const step = (done: number, message: string) => options.onProgress?.({ stage: 'compute', message, done, total, unit: 'steps' });
        step(0, 'Perplexity of the dense model');
        const dense = await engine.evaluate({ ...evaluate, byGenre: false, variants: ['dense'] }, { signal: options.signal });
        partial.dense = dense.results[0].overall;
        if (benchmark) {
          const scored = await engine.benchmark({ ...benchmark, variants: ['dense'], perItem: false }, { signal: options.signal });
          partial.denseBenchmark = scored.results[0].accuracy;
        }
        patchTask('sweep', { result: { ...partial } });
        for (const method of methods) {
          for (const sparsity of sparsities) {
            step(partial.points.length + 1, `${method} at ${(sparsity * 100).toFixed(0)}% sparsity`);
            const prune = { ...pruneRequest(experiment), method, sparsity };
            const point = await engine.sweepPoint({ prune, evaluate, ...(benchmark ? { benchmark } : {}) }, { signal: options.signal });
            partial.points = [...partial.points, point];
            patchTask('sweep', { result: { ...partial } });
          }
        }
        // Quantization points: round-to-nearest under the masks in force (the quantization in force stays).
        for (const bits of quantBits) {
          step(partial.points.length + 1, `round-to-nearest at ${bits} bits`);
          const point = await engine.sweepPoint({ quantize: { bits }, evaluate, ...(benchmark ? { benchmark } : {}) }, { signal: options.signal });
          partial.points = [...partial.points, point];
          patchTask('sweep', { result: { ...partial } });
        }
        return { ...partial };
      });
    },

    /**
     * The Recover step: distills the pruned model toward the dense one in chunks of RECOVER_CHUNK steps, so the
     * report (curves, per-layer losses) updates as it trains; cancelling the task (pauseRecover) stops after the
     * chunk in flight and keeps the report so far. Resuming continues the same run in the engine when the settings
     * and masks are unchanged (the task's key), else starts over; `restart` always starts over.
     */
    async recover(restart = false): Promise<void> {
      const { experiment, model } = get();
      if (!model) return;
      const context = contextLimit(model.spec);
      const key = recoverKeyOf(get());
      const previous = get().tasks.recover;
      const fresh = restart || previous.key !== key || previous.result === null;
      let step = fresh ? 0 : previous.result!.step;
      await runTask('recover', key, async (options) => {
        if (fresh) patchTask('recover', { result: null, key });
        let first = fresh;
        for (;;) {
          const report = await engine.recover(recoverRequest(experiment, context, step + RECOVER_CHUNK, first), options);
          first = false;
          step = report.step;
          if (options.signal?.aborted) return report;
          patchTask('recover', { result: report, key });
          if (report.finished) return report;
        }
      });
    },

    pauseRecover(): void {
      controllers.get('recover')?.abort();
    },

    /** The distilled model folder and its report as one zip (null when it failed: the error shows on the task). */
    async exportRecovered(): Promise<ExportFile[] | null> {
      try {
        return await engine.exportRecovered({ zip: true });
      } catch (error) {
        patchTask('recover', { error: errorInfo(error) });
        return null;
      }
    },

    setVariant(variant: Variant): void {
      set({ variant });
    },
  };
  return actions;
}

export type TaskActions = ReturnType<typeof createTaskActions>;

/** Steps per Recover engine call: the curves redraw after each, and Pause takes effect within one. */
export const RECOVER_CHUNK = 5;

/** Whether a task's result was computed from `key` (the experiment's settings now). */
export function isCurrent<T>(task: TaskState<T>, key: string): boolean {
  return task.result !== null && task.key === key;
}
