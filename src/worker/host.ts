/**
 * The worker side of the protocol: receives calls, runs them on an in-thread Engine, streams progress, answers
 * with one result or one error, and aborts an operation's signal when the page cancels it.
 */
import type { Engine, OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import { toEngineError } from '../lab/errors.ts';
import { parseClientMessage, type CallMessage, type EngineInit, type HostMessage, type MessageEndpoint } from './protocol.ts';

/** Runs `call` on `engine`; exhaustive over the closed union, so a new method without a case fails to compile. */
function dispatch(engine: Engine, call: CallMessage, options: OperationOptions): Promise<unknown> {
  switch (call.method) {
    case 'capabilities':
      return engine.capabilities();
    case 'gpuMemory':
      return engine.gpuMemory();
    case 'embeddedModels':
      return engine.embeddedModels();
    case 'estimateModel':
      return engine.estimateModel(call.input, options);
    case 'loadModel':
      return engine.loadModel(call.input, options);
    case 'unloadModel':
      return engine.unloadModel().then(() => null);
    case 'tokenize':
      return engine.tokenize(call.input, options);
    case 'texts':
      return engine.texts();
    case 'addText':
      return engine.addText(call.input);
    case 'calibrate':
      return engine.calibrate(call.input, options);
    case 'inspect':
      return engine.inspect(call.input, options);
    case 'evaluate':
      return engine.evaluate(call.input, options);
    case 'tokenLoss':
      return engine.tokenLoss(call.input, options);
    case 'benchmark':
      return engine.benchmark(call.input, options);
    case 'generate':
      return engine.generate(call.input, options);
    case 'prune':
      return engine.prune(call.input, options);
    case 'clearMasks':
      return engine.clearMasks().then(() => null);
    case 'sweepPoint':
      return engine.sweepPoint(call.input, options);
    case 'exportFiles':
      return engine.exportFiles(call.input, options);
    case 'recover':
      return engine.recover(call.input, options);
    case 'exportRecovered':
      return engine.exportRecovered(call.input, options);
    case 'compareMasks':
      return engine.compareMasks(call.input, options);
    case 'quantize':
      return engine.quantize(call.input, options);
    case 'exportQuantized':
      return engine.exportQuantized(call.input, options);
    default: {
      const unreachable: never = call;
      throw new EngineError({ kind: 'bad-request', message: `unknown engine method ${JSON.stringify(unreachable)}` });
    }
  }
}

/**
 * Serves `createEngine(init)` on `endpoint` (the worker's global scope, or a MessagePort in tests).
 * Returns a function that stops listening and aborts whatever still runs.
 */
export function serveEngine(endpoint: MessageEndpoint, createEngine: (init: EngineInit) => Engine): () => void {
  let engine: Engine | null = null;
  const running = new Map<number, AbortController>();
  const post = (message: HostMessage) => endpoint.postMessage(message);

  const run = async (call: CallMessage) => {
    const controller = new AbortController();
    running.set(call.id, controller);
    const options: OperationOptions = {
      signal: controller.signal,
      onProgress: (progress) => {
        if (!controller.signal.aborted) post({ type: 'progress', id: call.id, progress });
      },
    };
    try {
      if (!engine) throw new EngineError({ kind: 'internal', message: 'the engine worker got a call before its init message' });
      const output = await dispatch(engine, call, options);
      // An operation that finished despite a cancel still answers 'aborted': the page has moved on.
      if (controller.signal.aborted) throw new EngineError({ kind: 'aborted', message: 'The operation was cancelled.' });
      post({ type: 'result', id: call.id, method: call.method, output } as HostMessage);
    } catch (error) {
      post({ type: 'error', id: call.id, error: toEngineError(error).toInfo() });
    } finally {
      running.delete(call.id);
    }
  };

  const onMessage = (event: MessageEvent) => {
    const message = parseClientMessage(event.data);
    if (!message) {
      const id = (event.data as { id?: unknown } | null)?.id;
      if (Number.isSafeInteger(id)) {
        post({ type: 'error', id: id as number, error: { kind: 'bad-request', message: 'the engine worker got a malformed message' } });
      }
      return;
    }
    switch (message.type) {
      case 'init':
        engine ??= createEngine(message.init);
        break;
      case 'cancel':
        running.get(message.id)?.abort();
        break;
      case 'call':
        void run(message);
        break;
    }
  };

  endpoint.addEventListener('message', onMessage);
  endpoint.start?.();
  return () => {
    endpoint.removeEventListener('message', onMessage);
    for (const controller of running.values()) controller.abort();
    running.clear();
  };
}
