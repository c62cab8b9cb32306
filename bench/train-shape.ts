/** The model shape flags shared by bench/train.ts and bench/train-profile.ts (a Mixtral of DEFAULT_RECIPE's kind). */
import { parseArgs } from 'node:util';
import type { TrainModelConfig } from '../src/engine/train/config.ts';

export function benchShapeFromArgs(): { config: TrainModelConfig; windows: number; steps: number } {
  const { values } = parseArgs({
    options: {
      hidden: { type: 'string', default: '192' },
      layers: { type: 'string', default: '4' },
      heads: { type: 'string', default: '6' },
      experts: { type: 'string', default: '8' },
      'top-k': { type: 'string', default: '2' },
      ffn: { type: 'string', default: '384' },
      vocab: { type: 'string', default: '4096' },
      context: { type: 'string', default: '256' },
      windows: { type: 'string', default: '8' },
      steps: { type: 'string', default: '3' },
    },
  });
  const n = (key: keyof typeof values) => Number(values[key]);
  return {
    config: {
      vocabSize: n('vocab'),
      hiddenSize: n('hidden'),
      numLayers: n('layers'),
      numHeads: n('heads'),
      numExperts: n('experts'),
      topK: n('top-k'),
      expertFfnSize: n('ffn'),
      contextLength: n('context'),
      ropeTheta: 10000,
      rmsNormEps: 1e-5,
      bosTokenId: 0,
      eosTokenId: 0,
    },
    windows: n('windows'),
    steps: n('steps'),
  };
}
