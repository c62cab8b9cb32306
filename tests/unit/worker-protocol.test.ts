import { afterEach, describe, expect, it } from 'vitest';
import type { Engine, ModelSource, OperationOptions, Progress } from '../../src/api/engine.ts';
import { EngineError, throwIfAborted } from '../../src/api/errors.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { GpuError } from '../../src/gpu/errors.ts';
import { WorkerEngineClient } from '../../src/worker/client.ts';
import { serveEngine } from '../../src/worker/host.ts';
import type { MessageEndpoint } from '../../src/worker/protocol.ts';
import { unusedLabCalls } from './worker-fake-engine.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An engine whose behaviour each test steers through the source id / text it is given. */
const lab = unusedLabCalls();

class FakeEngine implements Engine {
  texts = lab.texts;
  addText = lab.addText;
  calibrate = lab.calibrate;
  inspect = lab.inspect;
  evaluate = lab.evaluate;
  tokenLoss = lab.tokenLoss;
  benchmark = lab.benchmark;
  generate = lab.generate;
  prune = lab.prune;
  clearMasks = lab.clearMasks;
  sweepPoint = lab.sweepPoint;
  exportFiles = lab.exportFiles;
  recover = lab.recover;
  exportRecovered = lab.exportRecovered;
  compareMasks = lab.compareMasks;
  quantize = lab.quantize;
  exportQuantized = lab.exportQuantized;
  gpuMemory = lab.gpuMemory;
  init: unknown;
  /** Resolves with the reason once loadModel's signal fires. */
  sawAbort: Promise<string>;
  private resolveAbort!: (reason: string) => void;

  constructor() {
    this.sawAbort = new Promise((resolve) => (this.resolveAbort = resolve));
  }

  async capabilities() {
    return { available: false as const, reason: 'no GPU in this test' };
  }

  async embeddedModels() {
    return [{ id: 'm', name: 'M', path: 'models/m', description: 'fake', default: true }];
  }

  async estimateModel(source: ModelSource, options: OperationOptions = {}) {
    for (let i = 1; i <= 3; i++) {
      await sleep(1);
      options.onProgress?.({ stage: 'estimate', message: `step ${i}`, done: i, total: 3, unit: 'steps' });
    }
    return { name: source.kind, files: [], totalBytes: 3, downloadBytes: 0, fit: null } as never;
  }

  loadModel(_source: ModelSource, options: OperationOptions = {}) {
    return new Promise<never>((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => {
        this.resolveAbort('aborted');
        try {
          throwIfAborted(options.signal, 'Loading');
        } catch (error) {
          reject(error);
        }
      });
    });
  }

  async unloadModel() {}

  async tokenize(text: string) {
    switch (text) {
      case 'model-file':
        throw new ModelFileError('folder/tokenizer.json', 'bad-json', 'not valid JSON (Unexpected token)');
      case 'gpu':
        throw new GpuError('device-lost', 'The GPU device was lost (reset).');
      case 'engine':
        throw new EngineError({ kind: 'no-tokenizer', message: 'no tokenizer.json' });
      case 'bug':
        throw new RangeError('index 9 out of range');
      default:
        // Answer after a delay that makes later calls finish first.
        await sleep(30 - text.length * 5);
        return [...text].map((c) => c.charCodeAt(0));
    }
  }
}

const channels: MessageChannel[] = [];

function connect() {
  const channel = new MessageChannel();
  channels.push(channel);
  const engine = new FakeEngine();
  const stop = serveEngine(channel.port2 as unknown as MessageEndpoint, (init) => {
    engine.init = init;
    return engine;
  });
  const client = new WorkerEngineClient(channel.port1 as unknown as MessageEndpoint, { assetBase: 'http://lab.test/' });
  return { engine, client, stop, port: channel.port1 };
}

afterEach(() => {
  for (const channel of channels.splice(0)) {
    channel.port1.close();
    channel.port2.close();
  }
});

describe('engine worker protocol (client <-> host over a MessageChannel)', () => {
  it('sends init first and answers each call by its id, whatever the order of completion', async () => {
    const { engine, client } = connect();
    const texts = ['a', 'bb', 'ccc', 'dddd'];
    const answers = await Promise.all(texts.map((t) => client.tokenize(t)));
    expect(answers).toEqual(texts.map((t) => [...t].map((c) => c.charCodeAt(0))));
    expect(engine.init).toEqual({ assetBase: 'http://lab.test/' });
    expect(await client.capabilities()).toEqual({ available: false, reason: 'no GPU in this test' });
    expect((await client.embeddedModels())[0].id).toBe('m');
    await expect(client.unloadModel()).resolves.toBeUndefined();
  });

  it('delivers progress to the call that asked, in order, before its result', async () => {
    const { client } = connect();
    const seen: Progress[] = [];
    const other: Progress[] = [];
    const [estimate] = await Promise.all([
      client.estimateModel({ kind: 'hub', repo: 'a/b' }, { onProgress: (p) => seen.push(p) }),
      client.estimateModel({ kind: 'embedded', id: 'm' }, { onProgress: (p) => other.push(p) }),
    ]);
    expect(estimate.name).toBe('hub');
    expect(seen.map((p) => p.message)).toEqual(['step 1', 'step 2', 'step 3']);
    expect(other.map((p) => p.done)).toEqual([1, 2, 3]);
  });

  it('cancels: the client rejects at once with kind aborted and the worker aborts the signal', async () => {
    const { engine, client } = connect();
    const controller = new AbortController();
    const loading = client.loadModel({ kind: 'embedded', id: 'm' }, { signal: controller.signal });
    await sleep(5);
    controller.abort();
    await expect(loading).rejects.toMatchObject({ name: 'EngineError', kind: 'aborted' });
    await expect(engine.sawAbort).resolves.toBe('aborted');
    // The channel still works afterwards.
    expect(await client.tokenize('ok')).toEqual([111, 107]);
  });

  it('rejects a call whose signal already fired without sending it', async () => {
    const { engine, client } = connect();
    const controller = new AbortController();
    controller.abort();
    await expect(client.loadModel({ kind: 'embedded', id: 'm' }, { signal: controller.signal })).rejects.toMatchObject({ kind: 'aborted' });
    const raced = await Promise.race([engine.sawAbort, sleep(30).then(() => 'never called')]);
    expect(raced).toBe('never called');
  });

  it('maps thrown errors to serializable EngineErrors the page shows as they are', async () => {
    const { client } = connect();
    const errorOf = (text: string) =>
      client.tokenize(text).then(
        () => null,
        (error: EngineError) => error,
      );
    const fileError = await errorOf('model-file');
    expect(fileError).toBeInstanceOf(EngineError);
    expect(fileError?.toInfo()).toEqual({
      kind: 'model-file',
      message: 'folder/tokenizer.json: not valid JSON (Unexpected token)',
      file: 'folder/tokenizer.json',
      detail: 'bad-json',
    });
    expect((await errorOf('gpu'))?.toInfo()).toEqual({ kind: 'gpu', message: 'The GPU device was lost (reset).', detail: 'device-lost' });
    expect((await errorOf('engine'))?.toInfo()).toEqual({ kind: 'no-tokenizer', message: 'no tokenizer.json' });
    expect((await errorOf('bug'))?.toInfo()).toEqual({ kind: 'internal', message: 'RangeError: index 9 out of range' });
  });

  it('answers a malformed call with an error for its id, and ignores answers for unknown ids', async () => {
    const { port } = connect();
    const answers: unknown[] = [];
    port.addEventListener('message', (event) => answers.push((event as MessageEvent).data));
    port.postMessage({ type: 'call', id: 77, method: 'format-disk', input: null });
    port.postMessage({ type: 'nonsense' });
    await sleep(20);
    expect(answers).toEqual([{ type: 'error', id: 77, error: { kind: 'bad-request', message: 'the engine worker got a malformed message' } }]);
  });

  it('refuses calls that arrive before init', async () => {
    const channel = new MessageChannel();
    channels.push(channel);
    serveEngine(channel.port2 as unknown as MessageEndpoint, () => new FakeEngine());
    const answer = new Promise((resolve) => channel.port1.addEventListener('message', (e) => resolve((e as MessageEvent).data)));
    channel.port1.start();
    channel.port1.postMessage({ type: 'call', id: 1, method: 'capabilities', input: null });
    expect(await answer).toMatchObject({ type: 'error', id: 1, error: { kind: 'internal' } });
  });

  it('rejects calls in flight and later calls once the worker failed', async () => {
    const { client, stop } = connect();
    stop(); // the worker no longer answers, as if it had crashed
    const pending = client.tokenize('never');
    client.fail({ kind: 'internal', message: 'The engine worker failed: boom' });
    await expect(pending).rejects.toMatchObject({ kind: 'internal', message: 'The engine worker failed: boom' });
    await expect(client.capabilities()).rejects.toMatchObject({ message: 'The engine worker failed: boom' });
  });
});
