/**
 * The page's state: one framework-neutral zustand store (docs/style.md, after excalidraw's actions and the
 * TensorFlow playground's state.ts). Only the named actions in actions.ts change it; components read it with
 * useLab(selector) and act through useLabActions(). The shareable part is `experiment`, which url-sync.ts mirrors
 * into the URL hash.
 */
import type { BenchmarkReport } from '../api/benchmarks.ts';
import type { QuantizeSummary } from '../api/quantize.ts';
import type { QuantBits } from '../engine/quantize/quantized-matrix.ts';
import { createContext, useContext } from 'react';
import { useStore } from 'zustand';
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { EmbeddedModel, GpuMemoryReport, ModelEstimate, ModelSummary, Progress } from '../api/engine.ts';
import type { EngineErrorInfo } from '../api/errors.ts';
import type { RecoverReport } from '../api/recover.ts';
import type {
  CalibrationSummary,
  EvaluateReport,
  GenerateResult,
  MaskComparisonReport,
  PerplexityNumbers,
  PruneMethodName,
  PruneSummary,
  RoutingReport,
  SweepPointResult,
  TextInfo,
  TokenLossReport,
  Variant,
} from '../api/lab.ts';
import { defaultExperiment, type Experiment } from '../engine/experiment/schema.ts';
import type { GpuCapabilities } from '../api/gpu-capabilities.ts';
import type { LabActions } from './actions.ts';

export type GpuStatus = { status: 'probing' } | { status: 'ready'; caps: GpuCapabilities; summary: string } | { status: 'unavailable'; reason: string };

/** The operation on the model in progress, or how the last one failed. The loaded model stays meanwhile. */
export type ModelTask =
  { status: 'idle' } | { status: 'loading'; label: string; progress: Progress | null } | { status: 'error'; label: string; error: EngineErrorInfo };

/** The Hugging Face field: what was typed, and the estimate shown before anything large is downloaded. */
export interface HubState {
  repo: string;
  check: { status: 'idle' } | { status: 'estimating' } | { status: 'estimated'; estimate: ModelEstimate } | { status: 'error'; error: EngineErrorInfo };
}

export interface Note {
  id: number;
  /** 'link': about the share link being opened; 'model': about the model it named. */
  topic: 'link' | 'model';
  text: string;
}

/**
 * One computation of the lab: its last result and the settings it was computed from (`key`, so the page can
 * tell a result that no longer matches the experiment), the run in progress, and the last failure.
 */
export interface TaskState<T> {
  result: T | null;
  key: string | null;
  running: { progress: Progress | null } | null;
  error: EngineErrorInfo | null;
}

export function idleTask<T>(): TaskState<T> {
  return { result: null, key: null, running: null, error: null };
}

/** The columns of the side-by-side generation: the two variants and the dense model steered. */
export type GenerationColumn = Variant | 'steered';

/** One column of the side-by-side generation: the text so far while it runs. */
export interface GenerationSlot {
  partial: string;
  result: GenerateResult | null;
}

/** A sweep: methods x sparsities, points drawn as they arrive. */
export interface SweepResult {
  methods: PruneMethodName[];
  sparsities: number[];
  /** Round-to-nearest widths measured after the prunings, under the masks in force (method 'rtn' points; absent: none). */
  quantBits?: QuantBits[];
  /** The dense model's perplexity on the same windows (the reference line). */
  dense: PerplexityNumbers | null;
  /** With benchmark items: the dense model's accuracy on them (the BLiMP metric's reference line); else null. */
  denseBenchmark?: number | null;
  points: SweepPointResult[];
}

export interface LabTasks {
  calibrate: TaskState<CalibrationSummary>;
  inspect: TaskState<RoutingReport>;
  prune: TaskState<PruneSummary>;
  sweep: TaskState<SweepResult>;
  /** Where the masks in force and another method's masks disagree. */
  compareMasks: TaskState<MaskComparisonReport>;
  evaluate: TaskState<EvaluateReport>;
  tokenLoss: TaskState<TokenLossReport>;
  /** Zero-shot benchmarks (BLiMP, multiple choice), dense and (when pruned) pruned, every item kept. */
  benchmark: TaskState<BenchmarkReport>;
  /** Dense, pruned (when masks are in force) and steered (dense with experts switched off) continuations. */
  generate: TaskState<Record<GenerationColumn, GenerationSlot | null>>;
  export: TaskState<string>;
  /** The Recover step: the report of the run so far (it grows chunk by chunk while the task runs). */
  recover: TaskState<RecoverReport>;
  /** The quantized model (after the pruning in force, or alone): its report, accounting and perplexity. */
  quantize: TaskState<QuantizeSummary>;
}

export type TaskName = keyof LabTasks;

export function idleTasks(): LabTasks {
  return {
    calibrate: idleTask(),
    inspect: idleTask(),
    prune: idleTask(),
    sweep: idleTask(),
    compareMasks: idleTask(),
    evaluate: idleTask(),
    tokenLoss: idleTask(),
    benchmark: idleTask(),
    generate: idleTask(),
    export: idleTask(),
    recover: idleTask(),
    quantize: idleTask(),
  };
}

/** A text the user pasted or uploaded in this page (the engine holds it; links carry only the hash). */
export interface AddedTextEntry {
  hash: string;
  name: string;
  bytes: number;
}

export interface LabState {
  experiment: Experiment;
  gpu: GpuStatus;
  embedded: EmbeddedModel[];
  model: ModelSummary | null;
  /** Where the loaded model came from, as the experiment records it. */
  modelRef: Experiment['model'] | null;
  modelTask: ModelTask;
  hub: HubState;
  notes: Note[];
  /** The model a share link named, kept until a model with that source is loaded and its hash compared. */
  linkedModel: Experiment['model'] | null;
  /** The page's texts, once the engine listed them. */
  texts: TextInfo[];
  addedTexts: AddedTextEntry[];
  tasks: LabTasks;
  /** Which model the inspector and the token views show: switching is instant (both were computed). */
  variant: Variant;
  /** The pruning settings whose masks the engine applies now (pruneKey), or null while the model is dense. */
  masksKey: string | null;
  /** Bytes the engine holds on the GPU now and at most, read after every task and model load (null: not opened yet). */
  gpuMemory: GpuMemoryReport | null;
}

export type LabStore = StoreApi<LabState>;

export function initialLabState(): LabState {
  return {
    experiment: defaultExperiment(),
    gpu: { status: 'probing' },
    embedded: [],
    model: null,
    modelRef: null,
    modelTask: { status: 'idle' },
    hub: { repo: '', check: { status: 'idle' } },
    notes: [],
    linkedModel: null,
    texts: [],
    addedTexts: [],
    tasks: idleTasks(),
    variant: 'dense',
    masksKey: null,
    gpuMemory: null,
  };
}

export function createLabStore(state: LabState = initialLabState()): LabStore {
  return createStore<LabState>()(() => state);
}

/** What the page's components reach through React context: the store to read, the actions to change it. */
export interface Lab {
  store: LabStore;
  actions: LabActions;
}

export const LabContext = createContext<Lab | null>(null);

function useLabContext(): Lab {
  const lab = useContext(LabContext);
  if (!lab) throw new Error('useLab outside <LabContext.Provider>');
  return lab;
}

/** A slice of the state; re-renders when it changes. Select primitives or stored objects, never fresh objects. */
export function useLab<T>(selector: (state: LabState) => T): T {
  return useStore(useLabContext().store, selector);
}

export function useLabActions(): LabActions {
  return useLabContext().actions;
}
