import { describe, expect, it, vi } from 'vitest';
import type { Engine, ModelSource, ModelSummary, OperationOptions } from '../../src/api/engine.ts';
import { abortedError, EngineError } from '../../src/api/errors.ts';
import { defaultExperiment } from '../../src/engine/experiment/schema.ts';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';
import { createLabActions, NO_WEBGPU_REASON } from '../../src/state/actions.ts';
import { pruneKey, pruneRequest } from '../../src/state/requests.ts';
import { createLabStore } from '../../src/state/store.ts';
import { syncExperimentWithUrl, type UrlWindow } from '../../src/state/url-sync.ts';
import { unusedLabCalls } from './worker-fake-engine.ts';

const HASH = 'a'.repeat(64);

function summary(name: string, contentHash = HASH): ModelSummary {
  return { name, contentHash, spec: { architecture: 'mixtral', numExperts: 8, numLayers: 2 }, tokenizer: false } as unknown as ModelSummary;
}

/** An engine that answers at once, records calls, and can be told to hang or fail. */
function fakeEngine(overrides: Partial<Engine> = {}) {
  const calls: string[] = [];
  const engine: Engine = {
    capabilities: async () => ({ available: true, caps: { limits: {} } as never, summary: 'fake adapter' }),
    embeddedModels: async () => [
      { id: 'other', name: 'Other', path: 'models/other', description: '' },
      { id: 'test-tiny-mixtral', name: 'Tiny', path: 'models/test-tiny-mixtral', description: '', default: true },
    ],
    estimateModel: async (source: ModelSource) => {
      calls.push(`estimate ${JSON.stringify(source)}`);
      return { name: 'org/name', totalBytes: 1, downloadBytes: 1, files: [], fit: null } as never;
    },
    loadModel: async (source: ModelSource) => {
      calls.push(`load ${source.kind === 'embedded' ? source.id : source.kind === 'hub' ? source.repo : 'files'}`);
      return summary(source.kind === 'embedded' ? source.id : 'x');
    },
    unloadModel: async () => {},
    tokenize: async () => [],
    ...unusedLabCalls(),
    ...overrides,
  };
  return { engine, calls };
}

function setup(hash = '', overrides: Partial<Engine> = {}) {
  const { engine, calls } = fakeEngine(overrides);
  const store = createLabStore();
  const actions = createLabActions(store, engine);
  actions.applyShareLink(hash);
  return { store, actions, calls, engine };
}

describe('lab store and actions', () => {
  it('without WebGPU in the page, says so and never asks the engine', async () => {
    const capabilities = vi.fn();
    const { store, actions } = setup('', { capabilities });
    await actions.start({ webGpuInPage: false });
    expect(store.getState().gpu).toEqual({ status: 'unavailable', reason: NO_WEBGPU_REASON });
    expect(capabilities).not.toHaveBeenCalled();
  });

  it('on a plain first visit, loads the index default with no click and records it in the experiment', async () => {
    const { store, actions, calls } = setup();
    await actions.start({ webGpuInPage: true });
    const state = store.getState();
    expect(state.gpu).toMatchObject({ status: 'ready', summary: 'fake adapter' });
    expect(calls).toEqual(['load test-tiny-mixtral']);
    expect(state.model?.name).toBe('test-tiny-mixtral');
    expect(state.modelTask).toEqual({ status: 'idle' });
    expect(state.experiment.model).toEqual({ source: 'embedded', id: 'test-tiny-mixtral', hash: 'a'.repeat(16) });
    expect(state.notes).toEqual([]);
  });

  it('a malformed link shows its notes and still loads the model', async () => {
    const { store, actions, calls } = setup('#v=1&model=embedded:other&sparsity=lots&frobnicate=1');
    await actions.start({ webGpuInPage: true });
    const { notes, experiment } = store.getState();
    expect(notes.map((n) => n.topic)).toEqual(['link', 'link']);
    expect(notes[0].text).toContain('sparsity="lots"');
    expect(notes[1].text).toContain('"frobnicate"');
    expect(calls).toEqual(['load other']);
    expect(experiment.prune.sparsity).toBe(0.5);
  });

  it("a link with a bad model= opens the page's default model, with one note", async () => {
    const { store, actions, calls } = setup('#v=1&model=nonsense&method=wanda');
    await actions.start({ webGpuInPage: true });
    expect(calls).toEqual(['load test-tiny-mixtral']);
    const { notes, experiment } = store.getState();
    expect(notes.map((n) => n.text)).toEqual([expect.stringContaining('model="nonsense" does not start with embedded:')]);
    expect(experiment.model.id).toBe('test-tiny-mixtral');
    expect(experiment.prune.method).toBe('wanda');
  });

  it('notes a linked model whose content hash no longer matches', async () => {
    const { store, actions } = setup(`#v=1&model=embedded:test-tiny-mixtral&hash=${'b'.repeat(16)}`);
    await actions.start({ webGpuInPage: true });
    const notes = store.getState().notes;
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ topic: 'model' });
    expect(notes[0].text).toContain(`content hash was ${'b'.repeat(16)}`);
    expect(notes[0].text).toContain(`hashes to ${'a'.repeat(16)}`);
    expect(store.getState().experiment.model.hash).toBe('a'.repeat(16));
  });

  it('a matching hash gives no note; an unknown embedded id falls back to the default with a note', async () => {
    const ok = setup(`#v=1&model=embedded:test-tiny-mixtral&hash=${'a'.repeat(16)}`);
    await ok.actions.start({ webGpuInPage: true });
    expect(ok.store.getState().notes).toEqual([]);
    const missing = setup('#v=1&model=embedded:gone-model');
    await missing.actions.start({ webGpuInPage: true });
    expect(missing.calls).toEqual(['load test-tiny-mixtral']);
    expect(missing.store.getState().notes[0].text).toContain('no embedded model "gone-model"');
  });

  it('a link to a hub model only checks its size: nothing large is downloaded unasked', async () => {
    const { store, actions, calls } = setup('#v=1&model=hub:org/name@v2');
    await actions.start({ webGpuInPage: true });
    expect(calls).toEqual(['estimate {"kind":"hub","repo":"org/name@v2"}']);
    expect(store.getState().hub).toMatchObject({ repo: 'org/name@v2', check: { status: 'estimated' } });
    await actions.loadHubModel();
    expect(calls.at(-1)).toBe('load org/name@v2');
    expect(store.getState().experiment.model).toEqual({ source: 'hub', id: 'org/name@v2', hash: 'a'.repeat(16) });
  });

  it('a link to a model on another host is only filled in: nothing is fetched until asked', async () => {
    const { store, actions, calls } = setup('#v=1&model=hub:https://models.example.org/moe');
    await actions.start({ webGpuInPage: true });
    expect(calls).toEqual([]);
    expect(store.getState().hub).toEqual({ repo: 'https://models.example.org/moe', check: { status: 'idle' } });
    expect(store.getState().notes[0].text).toContain('https://models.example.org/moe: check its size below');
  });

  it('shows a failed load as one error and keeps the model that was loaded', async () => {
    let fail = false;
    const { store, actions, engine } = setup();
    const load = engine.loadModel.bind(engine);
    engine.loadModel = async (source, options) => {
      if (!fail) return load(source, options);
      throw new EngineError({ kind: 'model-file', message: 'model.safetensors: header is not valid JSON', file: 'model.safetensors' });
    };
    await actions.start({ webGpuInPage: true });
    fail = true;
    await actions.loadModel({ kind: 'files', files: [] });
    const state = store.getState();
    expect(state.modelTask).toEqual({
      status: 'error',
      label: '0 files',
      error: { kind: 'model-file', message: 'model.safetensors: header is not valid JSON', file: 'model.safetensors' },
    });
    expect(state.model?.name).toBe('test-tiny-mixtral');
  });

  it('cancels a load in progress, and a new load supersedes the old one', async () => {
    const signals: AbortSignal[] = [];
    const hanging = (_source: ModelSource, options: OperationOptions = {}) =>
      new Promise<ModelSummary>((_resolve, reject) => {
        signals.push(options.signal!);
        options.onProgress?.({ stage: 'read', message: 'Reading', done: 1, total: 3, unit: 'steps' });
        options.signal!.addEventListener('abort', () => reject(abortedError('Loading')));
      });
    const { store, actions } = setup('', { loadModel: hanging });
    const first = actions.loadModel({ kind: 'embedded', id: 'other' });
    expect(store.getState().modelTask).toMatchObject({ status: 'loading', label: 'other', progress: { done: 1 } });
    const second = actions.loadModel({ kind: 'hub', repo: 'org/name' });
    expect(signals[0].aborted).toBe(true);
    expect(store.getState().modelTask).toMatchObject({ status: 'loading', label: 'org/name' });
    actions.cancelModelTask();
    await Promise.all([first, second]);
    expect(signals[1].aborted).toBe(true);
    expect(store.getState().modelTask).toEqual({ status: 'idle' });
    expect(store.getState().model).toBeNull();
  });

  it('setters keep the experiment inside its schema', () => {
    const { store, actions } = setup();
    actions.setSparsity(2);
    actions.setPruneTargets(['shared', 'experts']);
    actions.setPruneTargets([]);
    actions.setExpertsDrop(2.6);
    actions.setCalibrationSize(0, 10 ** 9);
    actions.setView({ layer: -4, panel: 'prune' });
    actions.setHiddenControls(['share', 'gpu', 'gpu']);
    actions.setPruneMethod('wanda');
    actions.setSparsityPattern({ kind: 'n:m', n: 2, m: 4 });
    const e = store.getState().experiment;
    expect(e.prune).toMatchObject({ sparsity: 0.95, targets: ['experts', 'shared'], expertsDrop: 3, method: 'wanda', pattern: { kind: 'n:m', n: 2, m: 4 } });
    expect(e.calibration).toMatchObject({ samples: 1, seqLen: 32768 });
    expect(e.view).toEqual({ panel: 'prune', layer: 0 });
    expect(e.hide).toEqual(['gpu', 'share']);
    // Whatever the actions produce encodes to a link that reads back without notes.
    expect(decodeExperiment(encodeExperiment(e))).toMatchObject({ experiment: e, notes: [] });
  });

  it("SparseGPT's block width and dampening: clamped, kept while typing, and part of the pruning request and key", () => {
    const { store, actions } = setup();
    actions.setPruneMethod('sparsegpt');
    actions.setSparseGpt({ blockSize: 10 ** 6 });
    actions.setSparseGpt({ damp: -1 });
    actions.setSparseGpt({ blockSize: Number.NaN });
    let e = store.getState().experiment;
    expect(e.prune.sparseGpt).toEqual({ blockSize: 4096, damp: 0 });
    actions.setSparseGpt({ blockSize: 63.6, damp: 0.02 });
    e = store.getState().experiment;
    expect(pruneRequest(e).sparseGpt).toEqual({ blockSize: 64, damp: 0.02 });
    const key = pruneKey(e, 'h');
    actions.setSparseGpt({ damp: 0.03 });
    expect(pruneKey(store.getState().experiment, 'h')).not.toBe(key);
    // Other methods neither send nor depend on them.
    actions.setPruneMethod('wanda');
    expect(pruneRequest(store.getState().experiment).sparseGpt).toBeUndefined();
    expect(decodeExperiment(encodeExperiment(store.getState().experiment)).notes).toEqual([]);
  });
});

function fakeWindow(hash: string) {
  const listeners: (() => void)[] = [];
  const written: string[] = [];
  const win: UrlWindow = {
    location: { hash },
    history: {
      replaceState: (_data, _unused, url) => {
        written.push(url);
        win.location.hash = url;
      },
    },
    addEventListener: (_type, listener) => listeners.push(listener),
    removeEventListener: (_type, listener) => listeners.splice(listeners.indexOf(listener), 1),
    setTimeout: (handler, ms) => setTimeout(handler, ms),
    clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
  };
  const navigate = (next: string) => {
    win.location.hash = next;
    for (const listener of [...listeners]) listener();
  };
  return { win, written, navigate, listeners };
}

describe('share link <-> URL hash', () => {
  it('writes the experiment into the hash, debounced, and reads a pasted link', async () => {
    vi.useFakeTimers();
    try {
      const { store, actions, calls } = setup();
      const { win, written, navigate, listeners } = fakeWindow('');
      const stop = syncExperimentWithUrl(store, actions, win, 250);
      await actions.start({ webGpuInPage: true });
      actions.setSparsity(0.3);
      actions.setSparsity(0.4);
      actions.setPruneMethod('wanda');
      expect(written).toEqual([]);
      vi.advanceTimersByTime(250);
      expect(written).toHaveLength(1);
      const expected = defaultExperiment();
      // The model loaded is this fake index's default.
      expected.model = { source: 'embedded', id: 'test-tiny-mixtral', hash: 'a'.repeat(16) };
      expected.prune = { ...expected.prune, sparsity: 0.4, method: 'wanda' };
      expect(written[0]).toBe(`#${encodeExperiment(expected)}`);

      // Our own write is not read back as a new link.
      navigate(written[0]);
      expect(calls).toEqual(['load test-tiny-mixtral']);

      // A link pasted into the address bar is applied, with its notes, and its model opened.
      navigate('#v=1&model=embedded:other&method=magnitude&oops=1');
      await vi.runAllTimersAsync();
      expect(store.getState().experiment.prune.method).toBe('magnitude');
      expect(store.getState().notes.map((n) => n.text)).toEqual(['Ignored the unknown parameter "oops".']);
      expect(calls).toEqual(['load test-tiny-mixtral', 'load other']);
      stop();
      expect(listeners).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });
});
