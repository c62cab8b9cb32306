/**
 * `moe-lab run --experiment LINK` with quantization settings (qbits=4): after pruning and evaluating, the replay
 * quantizes as the page's Reproduce does, and its `quantized` equals what the lab service's quantize gives with the
 * page's request (quantizeRequest) under the same link's masks, exactly. A link without qbits has no `quantized`
 * (tests/gpu/cli-run.test.ts).
 */
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pruneRequest } from '../../src/api/experiment-requests.ts';
import { quantizeRequest } from '../../src/api/quantize.ts';
import { folderFetch, siteFolder } from '../../src/cli/node-lab.ts';
import { decodeExperiment } from '../../src/engine/experiment/url.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import { runCli as run } from '../helpers/cli.ts';
import { gpu } from './gpu-context.ts';

const SITE = siteFolder();
/** A small experiment on the page's default model: 8 x 32 calibration tokens, 520 evaluation tokens, RTN 4 bits. */
const SETTINGS =
  'v=1&model=embedded:brown-moe-3m&hash=7ecca273f019400a&text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown&ctx=64&evaltokens=520&qbits=4';

describe('moe-lab run --experiment with qbits', () => {
  it("quantizes after pruning as the page's Reproduce does: the lab service's quantize gives the same summary", async () => {
    const result = await run(['run', '--experiment', `#${SETTINGS}`, '--json']);
    expect(result.code, result.err.join('\n')).toBe(0);
    const json = JSON.parse(result.out.join('\n'));
    expect(json.quantized.pruned).toBe(true);
    expect(json.quantized.report.bits).toBe(4);

    const { experiment } = decodeExperiment(SETTINGS);
    const lab = new LabService({ assetBase: pathToFileURL(`${SITE}/`).href, fetch: folderFetch(SITE), openGpu: gpu, openCache: async () => null });
    await lab.loadModel({ kind: 'embedded', id: 'brown-moe-3m' });
    await lab.prune(pruneRequest(experiment));
    const summary = await lab.quantize(quantizeRequest(experiment));
    await lab.unloadModel();
    expect(json.quantized.perplexity).toEqual(summary.perplexity);
    expect(json.quantized).toEqual(JSON.parse(JSON.stringify(summary)));
    expect(json.quantized.perplexity.ppl).not.toBe(json.pruned.ppl);
    // The dense and pruned references are scored on the quantized perplexity's own windows, so the rows compare:
    // 4-bit RTN moves the pruned model's perplexity by a few percent at most (docs/quantization.md's table).
    const { dense, pruned } = json.quantized.reference;
    expect(dense.tokens).toBe(json.quantized.perplexity.tokens);
    expect(pruned.tokens).toBe(json.quantized.perplexity.tokens);
    expect(pruned.ppl).toBeGreaterThan(dense.ppl);
    expect(Math.abs(json.quantized.perplexity.ppl / pruned.ppl - 1)).toBeLessThan(0.05);
  });
});
