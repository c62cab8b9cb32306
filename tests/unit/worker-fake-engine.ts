/** The Engine's computation calls for fakes that do not use them: each rejects, naming the call. */
import type { Engine } from '../../src/api/engine.ts';
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
    gpuMemory: async () => null,
  };
}
