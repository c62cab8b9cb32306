/**
 * The page side of the protocol: implements Engine by posting calls to the worker (src/worker/host.ts). Each call
 * gets a fresh id; progress for that id goes to its onProgress; its AbortSignal posts a cancel and rejects at
 * once with kind 'aborted' (a late answer for a cancelled id is dropped).
 */
import type { CapabilitiesReport, GpuMemoryReport, EmbeddedModel, Engine, ModelEstimate, ModelSource, ModelSummary, OperationOptions } from '../api/engine.ts';
import type * as Lab from '../api/lab.ts';
import type { RecoverReport, RecoverRequest } from '../api/recover.ts';
import type { BenchmarkReport, BenchmarkRequest } from '../api/benchmarks.ts';
import type { QuantizeRequest, QuantizeSummary } from '../api/quantize.ts';
import { abortedError, EngineError, type EngineErrorInfo } from '../api/errors.ts';
import type { ClientMessage, EngineCalls, EngineInit, EngineMethod, HostMessage, MessageEndpoint } from './protocol.ts';

interface Pending {
  resolve(output: unknown): void;
  reject(error: EngineError): void;
  onProgress?: OperationOptions['onProgress'];
  cleanup(): void;
}

export class WorkerEngineClient implements Engine {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  /** Set when the worker died: every later call rejects with it. */
  private failure: EngineError | null = null;

  constructor(
    private readonly endpoint: MessageEndpoint,
    init: EngineInit,
  ) {
    endpoint.addEventListener('message', this.onMessage);
    endpoint.start?.();
    this.post({ type: 'init', init });
  }

  gpuMemory(): Promise<GpuMemoryReport | null> {
    return this.call('gpuMemory', null);
  }

  capabilities(): Promise<CapabilitiesReport> {
    return this.call('capabilities', null);
  }

  embeddedModels(): Promise<EmbeddedModel[]> {
    return this.call('embeddedModels', null);
  }

  estimateModel(source: ModelSource, options?: OperationOptions): Promise<ModelEstimate> {
    return this.call('estimateModel', source, options);
  }

  loadModel(source: ModelSource, options?: OperationOptions): Promise<ModelSummary> {
    return this.call('loadModel', source, options);
  }

  async unloadModel(): Promise<void> {
    await this.call('unloadModel', null);
  }

  tokenize(text: string, options?: OperationOptions): Promise<number[]> {
    return this.call('tokenize', text, options);
  }

  texts(): Promise<Lab.TextInfo[]> {
    return this.call('texts', null);
  }

  addText(text: string): Promise<Lab.AddedText> {
    return this.call('addText', text);
  }

  calibrate(request: Lab.CalibrationRequest, options?: OperationOptions): Promise<Lab.CalibrationSummary> {
    return this.call('calibrate', request, options);
  }

  inspect(request: Lab.InspectRequest, options?: OperationOptions): Promise<Lab.RoutingReport> {
    return this.call('inspect', request, options);
  }

  evaluate(request: Lab.EvaluateRequest, options?: OperationOptions): Promise<Lab.EvaluateReport> {
    return this.call('evaluate', request, options);
  }

  tokenLoss(request: Lab.TokenLossRequest, options?: OperationOptions): Promise<Lab.TokenLossReport> {
    return this.call('tokenLoss', request, options);
  }

  benchmark(request: BenchmarkRequest, options?: OperationOptions): Promise<BenchmarkReport> {
    return this.call('benchmark', request, options);
  }

  generate(request: Lab.GenerateRequest, options?: OperationOptions): Promise<Lab.GenerateResult> {
    return this.call('generate', request, options);
  }

  prune(request: Lab.PruneRequest, options?: OperationOptions): Promise<Lab.PruneSummary> {
    return this.call('prune', request, options);
  }

  async clearMasks(): Promise<void> {
    await this.call('clearMasks', null);
  }

  sweepPoint(request: Lab.SweepPointRequest, options?: OperationOptions): Promise<Lab.SweepPointResult> {
    return this.call('sweepPoint', request, options);
  }

  exportFiles(request: Lab.ExportRequest, options?: OperationOptions): Promise<Lab.ExportFile[]> {
    return this.call('exportFiles', request, options);
  }

  recover(request: RecoverRequest, options?: OperationOptions): Promise<RecoverReport> {
    return this.call('recover', request, options);
  }

  exportRecovered(request: { zip: boolean }, options?: OperationOptions): Promise<Lab.ExportFile[]> {
    return this.call('exportRecovered', request, options);
  }

  compareMasks(request: Lab.CompareMasksRequest, options?: OperationOptions): Promise<Lab.MaskComparisonReport> {
    return this.call('compareMasks', request, options);
  }

  quantize(request: QuantizeRequest, options?: OperationOptions): Promise<QuantizeSummary> {
    return this.call('quantize', request, options);
  }

  exportQuantized(request: { zip: boolean }, options?: OperationOptions): Promise<Lab.ExportFile[]> {
    return this.call('exportQuantized', request, options);
  }

  /**
   * The worker is gone (it failed to load or crashed): reject everything in flight and every later call with
   * `info`, so the page shows why instead of waiting forever.
   */
  fail(info: EngineErrorInfo): void {
    this.failure ??= new EngineError(info);
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.cleanup();
      pending.reject(this.failure);
    }
  }

  /** Stops listening; calls in flight reject. */
  dispose(): void {
    this.fail({ kind: 'internal', message: 'The engine was shut down.' });
    this.endpoint.removeEventListener('message', this.onMessage);
  }

  private post(message: ClientMessage): void {
    this.endpoint.postMessage(message);
  }

  private call<M extends EngineMethod>(method: M, input: EngineCalls[M]['input'], options: OperationOptions = {}): Promise<EngineCalls[M]['output']> {
    if (this.failure) return Promise.reject(this.failure);
    const { signal, onProgress } = options;
    if (signal?.aborted) return Promise.reject(abortedError(method));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        if (!this.pending.delete(id)) return;
        this.post({ type: 'cancel', id });
        reject(abortedError(method));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: resolve as (output: unknown) => void,
        reject,
        onProgress,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      });
      this.post({ type: 'call', id, method, input } as ClientMessage);
    });
  }

  private readonly onMessage = (event: MessageEvent) => {
    const message = event.data as HostMessage;
    const pending = this.pending.get(message?.id);
    if (!pending) return; // cancelled, or not ours
    switch (message.type) {
      case 'progress':
        pending.onProgress?.(message.progress);
        break;
      case 'result':
        this.pending.delete(message.id);
        pending.cleanup();
        pending.resolve(message.output);
        break;
      case 'error':
        this.pending.delete(message.id);
        pending.cleanup();
        pending.reject(new EngineError(message.error));
        break;
    }
  };
}
