/** The page's quantize action over a scripted engine: the request from the experiment, the result's key, a link with qbits reproducing it. */
import { describe, expect, it } from 'vitest';
import type { Engine, ModelSummary } from '../../src/api/engine.ts';
import { EngineError } from '../../src/api/errors.ts';
import type { EvaluateRequest, PruneRequest, PruneSummary } from '../../src/api/lab.ts';
import type { QuantizeRequest, QuantizeSummary } from '../../src/api/quantize.ts';
import { createLabActions } from '../../src/state/actions.ts';
import { quantizeKey } from '../../src/state/requests.ts';
import { createLabStore } from '../../src/state/store.ts';
import { loadedModelCalls, unusedLabCalls } from './worker-fake-engine.ts';

const HASH = 'd'.repeat(64);
const summary = { name: 'm', contentHash: HASH, spec: { numExperts: 8, numLayers: 2, topK: 2 }, tokenizer: true } as unknown as ModelSummary;
const quantized = (request: QuantizeRequest): QuantizeSummary =>
  ({
    report: { bits: Number(request.quantize.bits), matrices: [] },
    pruned: true,
    perplexity: { tokens: 4, nll: 2, ppl: Math.exp(2) },
    reference: { dense: { tokens: 4, nll: 1.8, ppl: Math.exp(1.8) }, pruned: { tokens: 4, nll: 1.9, ppl: Math.exp(1.9) } },
  }) as unknown as QuantizeSummary;

function scripted() {
  const log: string[] = [];
  const engine: Engine = {
    ...loadedModelCalls(summary),
    ...unusedLabCalls(),
    texts: async () => [],
    prune: async (request: PruneRequest) => {
      log.push(`prune ${request.method}`);
      return { method: request.method, calibration: null, overall: { name: 'all', weights: 10, pruned: 5 }, layers: [], seconds: 0 } as unknown as PruneSummary;
    },
    evaluate: async (request: EvaluateRequest) => {
      log.push(`evaluate ${request.variants.join('+')}`);
      return { text: request.text, ctx: 8, seconds: 0, fidelity: null, results: [] };
    },
    quantize: async (request) => {
      const q = request.quantize;
      log.push(`quantize ${q.method} ${q.bits} g${q.groupSize} on ${request.evaluation.maxTokens} tokens`);
      if (q.bits === '2') throw new EngineError({ kind: 'bad-request', message: 'Quantization: refused.' });
      return quantized(request);
    },
    exportQuantized: async (request) => {
      log.push(`export zip=${request.zip}`);
      return [{ path: 'quantized.zip', bytes: new Uint8Array([1, 2]) }];
    },
  };
  return { engine, log };
}

async function started(link: string) {
  const { engine, log } = scripted();
  const store = createLabStore();
  const actions = createLabActions(store, engine);
  actions.applyShareLink(link);
  await actions.start({ webGpuInPage: true });
  return { store, actions, log };
}

describe('quantize action', () => {
  it('a link with qbits reproduces the quantization after the pruning; the result is keyed by the settings and the masks', async () => {
    const { store, actions, log } = await started('#v=1&method=wanda&sparsity=0.5&qbits=4&qgroup=16');
    expect(store.getState().experiment.quantize).toMatchObject({ bits: '4', method: 'rtn', groupSize: 16 });
    await actions.runExperiment(false);
    expect(log).toEqual(['prune wanda', 'evaluate dense+pruned', 'quantize rtn 4 g16 on 4096 tokens']);
    const state = store.getState();
    expect(state.tasks.quantize.result?.perplexity.ppl).toBeCloseTo(Math.exp(2));
    expect(state.tasks.quantize.key).toBe(quantizeKey(state.experiment, HASH, state.masksKey));
    // Another group size: the result no longer matches the settings (the panel says so).
    actions.setSetting('quantGroupSize', 64);
    expect(store.getState().tasks.quantize.key).not.toBe(quantizeKey(store.getState().experiment, HASH, store.getState().masksKey));
    expect(await actions.exportQuantized()).toEqual([{ path: 'quantized.zip', bytes: new Uint8Array([1, 2]) }]);
    expect(log.at(-1)).toBe('export zip=true');
  });

  it('a link without quantize keys does not quantize; a refused quantization shows its error and keeps the last result', async () => {
    const { store, actions, log } = await started('#v=1&method=wanda&sparsity=0.5');
    expect(store.getState().experiment.quantize.bits).toBe('none');
    await actions.runExperiment(false);
    expect(log).toEqual(['prune wanda', 'evaluate dense+pruned']);
    actions.setSetting('quantBits', '8');
    expect(await actions.quantize()).toBe(true);
    const first = store.getState().tasks.quantize.result;
    actions.setSetting('quantBits', '2');
    expect(await actions.quantize()).toBe(false);
    expect(store.getState().tasks.quantize).toMatchObject({ result: first, error: { kind: 'bad-request', message: 'Quantization: refused.' } });
  });
});
