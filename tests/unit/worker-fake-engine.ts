/** The Engine's computation calls for fakes that do not use them: each rejects, naming the call. */
import type { Engine, ModelSummary } from '../../src/api/engine.ts';
import { EngineError } from '../../src/api/errors.ts';

type LabCalls = Pick<
  Engine,
  | 'texts'
  | 'addText'
  | 'calibrate'
  | 'inspect'
  | 'evaluate'
  | 'tokenLoss'
  | 'benchmark'
  | 'generate'
  | 'prune'
  | 'clearMasks'
  | 'sweepPoint'
  | 'exportFiles'
  | 'recover'
  | 'exportRecovered'
  | 'compareMasks'
  | 'quantize'
  | 'exportQuantized'
  | 'gpuMemory'
>;

export function unusedLabCalls(): LabCalls {
  const unused = (name: string) => () => Promise.reject(new EngineError({ kind: 'internal', message: `${name} is not used in this test` }));
  return {
    texts: unused('texts'),
    addText: unused('addText'),
    calibrate: unused('calibrate'),
    inspect: unused('inspect'),
    evaluate: unused('evaluate'),
    tokenLoss: unused('tokenLoss'),
    benchmark: unused('benchmark'),
    generate: unused('generate'),
    prune: unused('prune'),
    clearMasks: unused('clearMasks'),
    sweepPoint: unused('sweepPoint'),
    exportFiles: unused('exportFiles'),
    recover: unused('recover'),
    exportRecovered: unused('exportRecovered'),
    compareMasks: unused('compareMasks'),
    quantize: unused('quantize'),
    exportQuantized: unused('exportQuantized'),
    gpuMemory: async () => null,
  };
}

/** The model calls of a fake engine whose one embedded model 'm' (the index default) loads as `summary` at once. */
export function loadedModelCalls(
  summary: ModelSummary,
): Pick<Engine, 'capabilities' | 'embeddedModels' | 'estimateModel' | 'loadModel' | 'unloadModel' | 'tokenize'> {
  return {
    capabilities: async () => ({ available: true, caps: { limits: {} } as never, summary: '' }),
    embeddedModels: async () => [{ id: 'm', name: 'm', path: 'models/m', description: '', default: true }],
    estimateModel: async () => ({}) as never,
    loadModel: async () => summary,
    unloadModel: async () => {},
    tokenize: async () => [],
  };
}
