/** The lab's computation actions over a scripted engine: results and keys, progress, cancel, errors, prune -> evaluate. */
import { describe, expect, it } from 'vitest';
import type { Engine, ModelSummary, OperationOptions } from '../../src/api/engine.ts';
import { abortedError, EngineError } from '../../src/api/errors.ts';
import type { CalibrationSummary, EvaluateRequest, PruneRequest, PruneSummary, SweepPointRequest } from '../../src/api/lab.ts';
import type { RecoverReport, RecoverRequest } from '../../src/api/recover.ts';
import { reproduceBenchmark } from '../../src/api/experiment-requests.ts';
import { encodeExperiment } from '../../src/engine/experiment/url.ts';
import { createLabActions } from '../../src/state/actions.ts';
import { RECOVER_CHUNK } from '../../src/state/lab-actions.ts';
import { recoverKeyOf } from '../../src/state/requests.ts';
import { pruneKey } from '../../src/state/requests.ts';
import { createLabStore } from '../../src/state/store.ts';
import { loadedModelCalls, unusedLabCalls } from './worker-fake-engine.ts';

const HASH = 'c'.repeat(64);
const summary = { name: 'm', contentHash: HASH, spec: { numExperts: 8, numLayers: 2 }, tokenizer: true } as unknown as ModelSummary;
const calibration = { tokens: 16, windows: 2, seqLen: 8, textTokens: 100, mode: 'dense', layers: [], seconds: 0 } as CalibrationSummary;
const pruneSummary = (method: PruneRequest['method']): PruneSummary => ({
  method,
  calibration,
  overall: { name: 'all', weights: 10, pruned: 5 },
  layers: [],
  seconds: 0,
});
const ppl = (variants: string[]) => ({
  text: { kind: 'corpus' as const, id: 'b' },
  ctx: 8,
  seconds: 0,
  results: variants.map((v) => ({ variant: v as 'dense', overall: { tokens: 4, nll: 1, ppl: Math.E }, genres: [] })),
  fidelity: null,
});

/** What a sweep point reports about fidelity (the store passes it through). */
const fidelity = { tokens: 4, kl: 0.5, top1Agreement: 0.75, windows: 1, windowsAgreeing: 0, firstDisagreementMean: 2, firstDisagreementMedian: 2 };

/** An engine whose calls are logged and can be held until released. */
function scripted() {
  const log: string[] = [];
  const holds: { release: () => void; options: OperationOptions }[] = [];
  const hold = (options: OperationOptions) =>
    new Promise<void>((resolve, reject) => {
      holds.push({ release: resolve, options });
      options.signal?.addEventListener('abort', () => reject(abortedError('test')));
    });
  const engine: Engine = {
    ...loadedModelCalls(summary),
    ...unusedLabCalls(),
    texts: async () => [{ id: 'brown-heldout', name: 'Brown', bytes: 1, genres: [] }],
    addText: async (text) => ({ hash: text === 'bad' ? 'x' : 'f'.repeat(16), bytes: text.length }),
    calibrate: async (_request, options = {}) => {
      log.push('calibrate');
      options.onProgress?.({ stage: 'compute', message: 'batch 1 of 2', done: 1, total: 2, unit: 'steps' });
      await hold(options);
      return calibration;
    },
    prune: async (request: PruneRequest) => {
      log.push(`prune ${request.method} ${request.sparsity}`);
      if (request.method === 'random') throw new EngineError({ kind: 'bad-request', message: 'refused' });
      return pruneSummary(request.method);
    },
    evaluate: async (request: EvaluateRequest) => {
      log.push(`evaluate ${request.variants.join('+')}`);
      return ppl(request.variants);
    },
    sweepPoint: async (request: SweepPointRequest, options = {}) => {
      if (request.quantize) {
        log.push(`point rtn ${request.quantize.bits}`);
        return { method: 'rtn', bits: request.quantize.bits, sparsity: 0, achieved: 0, perplexity: { tokens: 4, nll: 2, ppl: 8 }, fidelity };
      }
      const prune = request.prune!;
      log.push(`point ${prune.method} ${prune.sparsity}`);
      if (prune.sparsity > 0.6) await hold(options);
      return {
        method: prune.method,
        sparsity: prune.sparsity,
        achieved: prune.sparsity,
        perplexity: { tokens: 4, nll: 2, ppl: 7 },
        fidelity,
        ...(request.benchmark ? { benchmark: { accuracy: 0.25, items: 4 } } : {}),
      };
    },
    benchmark: async (request) => {
      log.push(`benchmark ${request.variants.join('+')} ${request.tasks.map((t) => t.file).join(',')} limit ${request.limit}`);
      return {
        contextToken: { rule: 'bos', id: 0 },
        results: [{ variant: 'dense', accuracy: 0.75, items: 4, tasks: [] }],
        sequences: 8,
        tokens: 40,
        seconds: 0,
      };
    },
    clearMasks: async () => {
      log.push('clear');
    },
  };
  return { engine, log, holds };
}

async function started() {
  const { engine, log, holds } = scripted();
  const store = createLabStore();
  const actions = createLabActions(store, engine);
  await actions.start({ webGpuInPage: true });
  await Promise.resolve();
  return { store, actions, log, holds };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('lab computation actions', () => {
  it('lists the texts on start and keeps pasted texts by hash', async () => {
    const { store, actions } = await started();
    await tick();
    expect(store.getState().texts.map((t) => t.id)).toEqual(['brown-heldout']);
    expect(await actions.addText('some text', 'notes.txt', 'calibrate')).toBe('f'.repeat(16));
    expect(store.getState().addedTexts).toEqual([{ hash: 'f'.repeat(16), name: 'notes.txt', bytes: 9 }]);
  });

  it('a link to a pasted text says the text is needed, and a different text says it differs', async () => {
    const { engine } = scripted();
    const store = createLabStore();
    const actions = createLabActions(store, engine);
    actions.applyShareLink(`#v=1&text=pasted:${'0'.repeat(16)}`);
    expect(store.getState().notes.map((n) => n.text)).toEqual([
      `The link's calibration text is a pasted text known only by its hash ${'0'.repeat(16)}: paste or upload the same text to reproduce the results.`,
    ]);
    await actions.addText('another text', 'x.txt', 'calibrate');
    expect(store.getState().notes.at(-1)!.text).toContain(`hashes to ${'f'.repeat(16)}, not to the link's ${'0'.repeat(16)}`);
  });

  it('shows progress while calibrating, then the result under the settings key; Cancel keeps the previous result', async () => {
    const { store, actions, holds } = await started();
    const first = actions.calibrate();
    await tick();
    expect(store.getState().tasks.calibrate.running?.progress?.message).toBe('batch 1 of 2');
    holds[0].release();
    expect(await first).toBe(true);
    const task = store.getState().tasks.calibrate;
    expect(task).toMatchObject({ result: calibration, running: null, error: null });
    expect(task.key).toContain(HASH);
    actions.setCalibrationSeed(9);
    const second = actions.calibrate();
    await tick();
    actions.cancelTask('calibrate');
    expect(await second).toBe(false);
    expect(store.getState().tasks.calibrate).toMatchObject({ result: calibration, running: null, error: null });
    expect(store.getState().tasks.calibrate.key).not.toContain('|9|');
  });

  it('prunes, switches the views to the pruned model, and then evaluates both', async () => {
    const { store, actions, log } = await started();
    await actions.runExperiment(true);
    const state = store.getState();
    expect(log).toEqual(['prune moe-pruner 0.5', 'evaluate dense+pruned']);
    expect(state.masksKey).toBe(pruneKey(state.experiment, HASH));
    expect(state.variant).toBe('pruned');
    // The engine calibrated on the way: the calibration panel shows its summary.
    expect(state.tasks.calibrate.result).toBe(calibration);
    await actions.clearMasks();
    expect(store.getState()).toMatchObject({ masksKey: null, variant: 'dense' });
    await actions.evaluate(false);
    expect(log.at(-1)).toBe('evaluate dense');
  });

  it("with a link's benchmark, Reproduce scores its items dense and pruned after the perplexities, as moe-lab run does", async () => {
    const { store, actions, log } = await started();
    actions.setSetting('benchTasks', { kind: 'corpus', id: 'blimp.morphology' });
    actions.setSetting('benchLimit', 1);
    const bench = reproduceBenchmark(store.getState().experiment)!;
    expect(bench).toEqual({ tasks: { kind: 'corpus', id: 'blimp.morphology' }, limit: 1, variants: ['dense', 'pruned'] });
    await actions.runExperiment(true, { tasks: [{ file: 'blimp-morphology.jsonl', text: '{}' }], limit: bench.limit });
    expect(log).toEqual(['prune moe-pruner 0.5', 'evaluate dense+pruned', 'benchmark dense+pruned blimp-morphology.jsonl limit 1']);
    // The default selection (a link without bench / benchlimit) names no benchmark.
    actions.setSetting('benchTasks', { kind: 'corpus', id: 'blimp' });
    actions.setSetting('benchLimit', 10);
    expect(reproduceBenchmark(store.getState().experiment)).toBeNull();
  });

  it('a refused pruning shows its error and keeps the masks in force', async () => {
    const { store, actions } = await started();
    await actions.prune();
    const key = store.getState().masksKey;
    actions.setPruneMethod('random');
    expect(await actions.prune()).toBe(false);
    expect(store.getState().tasks.prune.error).toEqual({ kind: 'bad-request', message: 'refused' });
    expect(store.getState().masksKey).toBe(key);
  });

  it('draws sweep points as they come and keeps them when cancelled', async () => {
    const { store, actions, log, holds } = await started();
    const sweep = actions.sweep(['wanda', 'moe-pruner'], [0.25, 0.5, 0.75]);
    for (let i = 0; i < 10 && !holds.length; i++) await tick();
    const partial = store.getState().tasks.sweep.result!;
    expect(partial.dense?.ppl).toBe(Math.E);
    expect(partial.points.map((p) => `${p.method} ${p.sparsity}`)).toEqual(['wanda 0.25', 'wanda 0.5']);
    actions.cancelTask('sweep');
    await sweep;
    expect(store.getState().tasks.sweep).toMatchObject({ running: null, error: null });
    expect(store.getState().tasks.sweep.result!.points).toHaveLength(2);
    expect(log.filter((l) => l.startsWith('point'))).toEqual(['point wanda 0.25', 'point wanda 0.5', 'point wanda 0.75']);
  });

  it('a sweep with benchmark items scores them once dense and at every point (BLiMP accuracy as a sweep metric)', async () => {
    const { store, actions, log } = await started();
    const benchmark = { tasks: [{ file: 'blimp-morphology.jsonl', text: '{}' }], limit: 1 };
    await actions.sweep(['wanda'], [0.25], benchmark);
    const result = store.getState().tasks.sweep.result!;
    expect(result.denseBenchmark).toBe(0.75);
    expect(result.points.map((p) => p.benchmark)).toEqual([{ accuracy: 0.25, items: 4 }]);
    expect(log.filter((l) => l.startsWith('benchmark'))).toEqual(['benchmark dense blimp-morphology.jsonl limit 1']);
    // Another selection is another sweep: the key holds the items.
    const key = store.getState().tasks.sweep.key;
    await actions.sweep(['wanda'], [0.25]);
    expect(store.getState().tasks.sweep.key).not.toBe(key);
    expect(store.getState().tasks.sweep.result!.denseBenchmark).toBeNull();
  });

  it('a sweep with quantization widths measures round-to-nearest points after the prunings (method rtn)', async () => {
    const { store, actions, log } = await started();
    await actions.sweep(['wanda'], [0.25], undefined, [8, 4]);
    const result = store.getState().tasks.sweep.result!;
    expect(result.quantBits).toEqual([8, 4]);
    expect(result.points.map((p) => `${p.method} ${p.bits ?? p.sparsity}`)).toEqual(['wanda 0.25', 'rtn 8', 'rtn 4']);
    expect(log.filter((l) => l.startsWith('point'))).toEqual(['point wanda 0.25', 'point rtn 8', 'point rtn 4']);
  });

  it('a new model forgets every result and the masks', async () => {
    const { store, actions } = await started();
    await actions.runExperiment(false);
    await actions.loadModel({ kind: 'embedded', id: 'm' });
    const state = store.getState();
    expect(state.masksKey).toBeNull();
    expect(state.tasks.prune.result).toBeNull();
    expect(state.tasks.evaluate.result).toBeNull();
  });
});

describe('the Recover step as a task', () => {
  const TOTAL = 12;
  const report = (step: number): RecoverReport => ({
    step,
    totalSteps: TOTAL,
    finished: step >= TOTAL,
    curves: { step: [], layer: [], expert_loss: [], grad_norm: [], lr: [] },
    layers: [],
    seconds: 0,
    prunedWeights: 5,
    maskSource: 'zeros',
    perplexity: null,
    gapRecovered: null,
    nonzeroPruned: step >= TOTAL ? 0 : null,
  });

  async function withRecover(holdAt: number | null) {
    const { engine, log, holds } = scripted();
    const requests: RecoverRequest[] = [];
    engine.loadModel = async () => ({ ...summary, spec: { numExperts: 8, numLayers: 2, maxPositions: 64, slidingWindow: null } }) as unknown as ModelSummary;
    engine.recover = async (request, options = {}) => {
      requests.push(request);
      const step = Math.min(request.untilStep, TOTAL);
      if (step === holdAt) {
        await new Promise<void>((resolve, reject) => {
          holds.push({ release: resolve, options });
          options.signal?.addEventListener('abort', () => reject(abortedError('test')));
        });
      }
      return report(step);
    };
    const store = createLabStore();
    const actions = createLabActions(store, engine);
    await actions.start({ webGpuInPage: true });
    await actions.prune();
    return { store, actions, log, requests, holds };
  }

  it('runs in chunks from the experiment settings to the end, under a key of model, masks and settings', async () => {
    const { store, actions, requests } = await withRecover(null);
    actions.setRecoverSettings({ steps: 6, samples: 8, seqLen: 500, lr: 0.003, batch: 2 });
    await actions.recover();
    expect(requests.map((r) => [r.untilStep, r.restart])).toEqual([
      [RECOVER_CHUNK, true],
      [2 * RECOVER_CHUNK, false],
      [3 * RECOVER_CHUNK, false],
    ]);
    // Windows take L + 1 tokens, so L is clamped below the context (64); the training text is the calibration text.
    expect(requests[0]).toMatchObject({ steps: 6, lr: 0.003, batch: 2, training: { samples: 8, seqLen: 63, seed: 0 } });
    const state = store.getState();
    expect(state.tasks.recover.result?.finished).toBe(true);
    expect(state.tasks.recover.key).toBe(recoverKeyOf(state));
    // The settings are the experiment's, so the share link carries them.
    expect(encodeExperiment(state.experiment)).toContain('rsteps=6');
    // Changed settings or new masks make the report stale.
    actions.setRecoverSettings({ steps: 7 });
    expect(store.getState().tasks.recover.key).not.toBe(recoverKeyOf(store.getState()));
  });

  it('Pause keeps the report so far and Resume continues the same run; new settings start over', async () => {
    const { store, actions, requests, holds } = await withRecover(2 * RECOVER_CHUNK);
    const run = actions.recover();
    while (holds.length === 0) await tick();
    actions.pauseRecover();
    await run;
    let task = store.getState().tasks.recover;
    expect(task).toMatchObject({ running: null, error: null });
    expect(task.result?.step).toBe(RECOVER_CHUNK);
    // Resume: from step 5, not a restart (the engine keeps the run).
    holds.length = 0;
    const resumed = actions.recover();
    while (holds.length === 0) await tick();
    holds[0].release();
    await resumed;
    expect(requests.slice(2).map((r) => [r.untilStep, r.restart])).toEqual([
      [2 * RECOVER_CHUNK, false],
      [3 * RECOVER_CHUNK, false],
    ]);
    task = store.getState().tasks.recover;
    expect(task.result?.finished).toBe(true);
    // Other settings: the next run restarts.
    actions.setRecoverSettings({ seed: 3 });
    const count = requests.length;
    const restarted = actions.recover();
    while (requests.length === count) await tick();
    expect(requests.at(-1)).toMatchObject({ untilStep: RECOVER_CHUNK, restart: true, training: { seed: 3 } });
    actions.pauseRecover();
    await restarted;
  });
});
