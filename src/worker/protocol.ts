/**
 * The messages between the page (src/worker/client.ts) and the engine worker (src/worker/host.ts): a closed,
 * typed union. The page sends `init` once, then `call`s with increasing ids and `cancel`s; the worker answers
 * each call with any number of `progress` messages and then exactly one `result` or `error`.
 *
 * EngineCalls is the wire form of the Engine interface: each method's input (its arguments without the
 * OperationOptions, whose callback and signal cannot be cloned) and output.
 */
import type { CapabilitiesReport, EmbeddedModel, GpuMemoryReport, ModelEstimate, ModelSource, ModelSummary, Progress } from '../api/engine.ts';
import type * as Lab from '../api/lab.ts';
import type { EngineErrorInfo } from '../api/errors.ts';
import type { RecoverReport, RecoverRequest } from '../api/recover.ts';
import type { BenchmarkReport, BenchmarkRequest } from '../api/benchmarks.ts';
import type { QuantizeRequest, QuantizeSummary } from '../api/quantize.ts';

export interface EngineCalls {
  capabilities: { input: null; output: CapabilitiesReport };
  embeddedModels: { input: null; output: EmbeddedModel[] };
  estimateModel: { input: ModelSource; output: ModelEstimate };
  loadModel: { input: ModelSource; output: ModelSummary };
  unloadModel: { input: null; output: null };
  gpuMemory: { input: null; output: GpuMemoryReport | null };
  tokenize: { input: string; output: number[] };
  texts: { input: null; output: Lab.TextInfo[] };
  addText: { input: string; output: Lab.AddedText };
  calibrate: { input: Lab.CalibrationRequest; output: Lab.CalibrationSummary };
  inspect: { input: Lab.InspectRequest; output: Lab.RoutingReport };
  evaluate: { input: Lab.EvaluateRequest; output: Lab.EvaluateReport };
  tokenLoss: { input: Lab.TokenLossRequest; output: Lab.TokenLossReport };
  benchmark: { input: BenchmarkRequest; output: BenchmarkReport };
  generate: { input: Lab.GenerateRequest; output: Lab.GenerateResult };
  prune: { input: Lab.PruneRequest; output: Lab.PruneSummary };
  clearMasks: { input: null; output: null };
  sweepPoint: { input: Lab.SweepPointRequest; output: Lab.SweepPointResult };
  exportFiles: { input: Lab.ExportRequest; output: Lab.ExportFile[] };
  recover: { input: RecoverRequest; output: RecoverReport };
  exportRecovered: { input: { zip: boolean }; output: Lab.ExportFile[] };
  compareMasks: { input: Lab.CompareMasksRequest; output: Lab.MaskComparisonReport };
  quantize: { input: QuantizeRequest; output: QuantizeSummary };
  exportQuantized: { input: { zip: boolean }; output: Lab.ExportFile[] };
}

export type EngineMethod = keyof EngineCalls;

export const ENGINE_METHODS: readonly EngineMethod[] = [
  'capabilities',
  'embeddedModels',
  'estimateModel',
  'loadModel',
  'unloadModel',
  'gpuMemory',
  'tokenize',
  'texts',
  'addText',
  'calibrate',
  'inspect',
  'evaluate',
  'tokenLoss',
  'benchmark',
  'generate',
  'prune',
  'clearMasks',
  'sweepPoint',
  'exportFiles',
  'recover',
  'exportRecovered',
  'compareMasks',
  'quantize',
  'exportQuantized',
];

/** What the worker needs to know about the page before its first call. */
export interface EngineInit {
  /** Absolute URL of the site root (where public/ is served): embedded models live at `${assetBase}models/...`. */
  assetBase: string;
  /** The page's GPU memory budget in bytes (the `gpumem` URL parameter, docs/ui.md "Streaming mode"); absent: the adapter's (src/lab/page-gpu.ts). */
  gpuMemory?: number | null;
}

export type CallMessage = {
  [M in EngineMethod]: { type: 'call'; id: number; method: M; input: EngineCalls[M]['input'] };
}[EngineMethod];

export type ClientMessage = { type: 'init'; init: EngineInit } | CallMessage | { type: 'cancel'; id: number };

export type ResultMessage = {
  [M in EngineMethod]: { type: 'result'; id: number; method: M; output: EngineCalls[M]['output'] };
}[EngineMethod];

export type HostMessage = { type: 'progress'; id: number; progress: Progress } | ResultMessage | { type: 'error'; id: number; error: EngineErrorInfo };

/** Anything that carries messages: a Worker, the worker's global scope, a MessagePort. */
export interface MessageEndpoint {
  postMessage(message: unknown): void;
  addEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  removeEventListener(type: 'message', listener: (event: MessageEvent) => void): void;
  /** MessagePorts deliver nothing until started; Workers have no start(). */
  start?(): void;
}

/** Runtime check of what arrives at the worker: a stale or foreign sender gets an error, never a crash. */
export function parseClientMessage(data: unknown): ClientMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const message = data as Record<string, unknown>;
  switch (message.type) {
    case 'init': {
      const init = message.init as Record<string, unknown> | null;
      const budgetOk = init?.gpuMemory === undefined || init.gpuMemory === null || (Number.isSafeInteger(init.gpuMemory) && (init.gpuMemory as number) > 0);
      return typeof init === 'object' && init !== null && typeof init.assetBase === 'string' && budgetOk ? (message as ClientMessage) : null;
    }
    case 'cancel':
      return Number.isSafeInteger(message.id) ? (message as ClientMessage) : null;
    case 'call':
      return Number.isSafeInteger(message.id) && ENGINE_METHODS.includes(message.method as EngineMethod) && 'input' in message
        ? (message as ClientMessage)
        : null;
    default:
      return null;
  }
}
