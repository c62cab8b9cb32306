/** The page's pruning request -> the pipeline's settings (src/lab/prune.ts). */
import { describe, expect, it } from 'vitest';
import { defaultExperiment } from '../../src/engine/experiment/schema.ts';
import { DEFAULT_BLOCK_SIZE, DEFAULT_DAMP } from '../../src/engine/sparsegpt/settings.ts';
import { pruneRequest } from '../../src/state/requests.ts';
import { pipelineSettingsOf } from '../../src/lab/prune.ts';

describe('pipelineSettingsOf', () => {
  it("passes SparseGPT's block width and dampening through, and the defaults when the request has none", () => {
    const e = defaultExperiment();
    e.prune.method = 'sparsegpt';
    e.prune.pattern = { kind: 'n:m', n: 2, m: 4 };
    e.prune.sparseGpt = { blockSize: 32, damp: 0.05 };
    const settings = pipelineSettingsOf(pruneRequest(e));
    expect(settings.sparseGpt).toEqual({ blockSize: 32, damp: 0.05 });
    expect(settings.pattern).toEqual({ kind: 'n:m', n: 2, m: 4 });
    const { sparseGpt: _unused, ...without } = pruneRequest(e);
    expect(pipelineSettingsOf(without).sparseGpt).toEqual({ blockSize: DEFAULT_BLOCK_SIZE, damp: DEFAULT_DAMP });
  });
});
