/**
 * Layer streaming (docs/forward.md "Layer streaming") through calibration and pruning on every hf-tiny family: a
 * streamed model (one layer's weights on the GPU at a time, read by ranges for each pass) gives the resident model's
 * dense and sequential statistics, the router record of the inspector, and bit-identical masks (and SparseGPT's
 * updated weights) for magnitude, Wanda (sequential), MoE-Pruner with OWL and expert dropping, SparseGPT (sequential
 * and dense) and neuron pruning (the last two on the first six families), and the same perplexity under them, their
 * masks and updated weights kept in host memory while their layer is off the GPU. Calibration runs in 2 batches so
 * the layer-major order is exercised.
 */
import { describe, expect, it } from 'vitest';
import type { MatrixKey } from '../../src/engine/model/mask-set.ts';
import { pipelineSettings, type PipelineSettings } from '../../src/engine/prune/pipeline-settings.ts';
import { calibrateOnGpu } from '../../src/gpu/calibration/calibrate.ts';
import { recordTokenRouting } from '../../src/gpu/calibration/routing-record.ts';
import { evaluatePerplexity } from '../../src/gpu/eval/perplexity.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';
import { prunePipeline } from '../../src/gpu/prune/pipeline.ts';
import { FIXTURES, FIXTURES_B, FIXTURES_C, openFixture, type AnyFixtureName } from '../helpers/fixtures.ts';
import { gpu } from './gpu-context.ts';
import { randomWindows } from './prune-pipeline-helpers.ts';

const CASES: [string, Partial<PipelineSettings>][] = [
  ['magnitude 50%', { method: 'magnitude', sparsity: 0.5 }],
  ['wanda 50% sequential', { method: 'wanda', sparsity: 0.5, mode: 'sequential' }],
  ['moe-pruner 60% + OWL + 2 experts dropped', { method: 'moe-pruner', sparsity: 0.6, allocation: 'owl', expertsDrop: 2, expertCriterion: 'frequency' }],
  ['sparsegpt 50% sequential', { method: 'sparsegpt', sparsity: 0.5, mode: 'sequential' }],
  ['sparsegpt 50% dense + OWL', { method: 'sparsegpt', sparsity: 0.5, mode: 'dense', allocation: 'owl' }],
  ['neurons by wanda 25%', { method: 'wanda', sparsity: 0.25, structure: 'neurons' }],
];

/** The outcome of `run` or the error message it stops with (some families refuse some runs: both must agree). */
async function outcome<T>(run: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await run();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('layer streaming: the same statistics and masks as the resident model', () => {
  for (const name of [...FIXTURES, ...FIXTURES_B, ...FIXTURES_C] as AnyFixtureName[]) {
    it(`${name}: calibration, router record and every pruning method`, async () => {
      const ctx = await gpu();
      const checkpoint = await openFixture(name);
      const resident = await GpuModel.upload(ctx, checkpoint);
      const streamed = await GpuModel.upload(ctx, checkpoint, { stream: true });
      const windows = randomWindows(4, 12, checkpoint.spec.vocabSize, 5);
      const tokensPerBatch = 24; // 2 windows per batch: 2 batches
      try {
        for (const mode of ['dense', 'sequential'] as const) {
          const want = await calibrateOnGpu(resident, windows, { mode, tokensPerBatch });
          const got = await calibrateOnGpu(streamed, windows, { mode, tokensPerBatch });
          expect(got.stats, `${mode} statistics`).toEqual(want.stats);
        }
        expect(await recordTokenRouting(streamed, windows.slice(0, 2))).toEqual(await recordTokenRouting(resident, windows.slice(0, 2)));

        // SparseGPT's dense mode and neuron pruning take the same streamed paths on every family: the first set only.
        const cases = (FIXTURES as readonly string[]).includes(name) ? CASES : CASES.filter(([label]) => !/dense|neurons/.test(label));
        for (const [label, partial] of cases) {
          const settings = pipelineSettings(partial);
          const calibration = { windows, tokensPerBatch, info: { source: 'test' } };
          const want = await outcome(() => prunePipeline(resident, settings, calibration));
          const got = await outcome(() => prunePipeline(streamed, settings, calibration));
          if ('error' in want || 'error' in got) {
            expect(got, label).toEqual(want);
            continue;
          }
          try {
            expect(await got.readMaskSet(), `${label}: masks`).toEqual(await want.readMaskSet());
            expect(got.stats, `${label}: statistics`).toEqual(want.stats);
            const { seconds: _a, ...gotReport } = got.report;
            const { seconds: _b, ...wantReport } = want.report;
            expect(gotReport, `${label}: report`).toEqual(wantReport);
            // The masks (and updated weights) follow the streamed model's layers: none on the GPU between passes.
            expect(
              got.masks.layers.every((layer) => layer === null),
              `${label}: masks off the GPU`,
            ).toBe(true);
            const ids = windows.slice(0, 2).flat();
            expect(await evaluatePerplexity(streamed, ids, { ctx: 12, masks: got.masks }), `${label}: perplexity`).toEqual(
              await evaluatePerplexity(resident, ids, { ctx: 12, masks: want.masks }),
            );
            if (settings.method === 'sparsegpt') {
              for (const [l, isMoe] of checkpoint.spec.moeLayers.entries()) {
                if (!isMoe) continue;
                for (const key of ['experts.gate_up', 'experts.down'] as MatrixKey[]) {
                  expect(await got.updatedWeights(l, key), `${label}: layer ${l} ${key} weights`).toEqual(await want.updatedWeights(l, key));
                }
              }
            }
          } finally {
            got.destroy();
            want.destroy();
          }
        }
        expect(streamed.layersResidentPeak).toBe(1);
      } finally {
        resident.destroy();
        streamed.destroy();
      }
    });
  }
});
