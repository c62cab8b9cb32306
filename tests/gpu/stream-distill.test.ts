/**
 * Distillation under a GPU memory budget (docs/distillation.md "Under a GPU memory budget"): a synthetic f32
 * Mixtral-shaped model, pruned 50% by magnitude, distilled by `moe-lab distill` resident and with --gpu-memory at a
 * sixth of its weight bytes. The streamed run computes each layer's inputs layer-major and keeps distilled experts as
 * their layer's replacement weights; it writes the resident run's folder byte for byte, with the same report
 * numbers (losses, curves, perplexities), and its peak GPU bytes stay under the budget. One layer's distillation
 * holds five f32 copies of its experts (student, teacher, gradient, two moments), so the model has 48 layers for
 * a sixth of them to hold that. Five windows in batches of two: the inputs' pass has a chunk of one window too.
 * A streamed run stopped mid-way with a saved state and resumed writes the same folder.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DistillReport } from '../../src/engine/distill/report.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { createRng } from '../../src/engine/random.ts';
import { checkpointWeightBytes } from '../../src/gpu/model/gpu-model.ts';
import { runCli } from '../helpers/cli.ts';
import { STREAM_MIXTRAL_CONFIG, writeSyntheticModel } from '../helpers/stream-model.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const CONFIG = { ...STREAM_MIXTRAL_CONFIG, num_hidden_layers: 48 };

const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('moe-lab distill with --gpu-memory at a sixth of the weights', () => {
  const work = scratchDir('moe-lab-stream-distill-');
  const dense = join(work, 'dense');
  const pruned = join(work, 'pruned');
  const windowsFile = join(work, 'windows.json');
  const evalFile = join(work, 'eval.json');
  let weights = 0;

  beforeAll(async () => {
    const folder = await writeSyntheticModel(dense, CONFIG, 4);
    weights = checkpointWeightBytes(await openCheckpoint(folder));
    const rng = createRng(21);
    writeFileSync(windowsFile, JSON.stringify(Array.from({ length: 5 }, () => Array.from({ length: 17 }, () => rng.int(CONFIG.vocab_size)))));
    writeFileSync(evalFile, JSON.stringify(Array.from({ length: 64 }, () => rng.int(CONFIG.vocab_size))));
    const prune = await runCli(['prune', '--model', dense, '--method', 'magnitude', '--sparsity', '0.5', '--out', pruned]);
    expect(prune.code, prune.err.join('\n')).toBe(0);
  });

  it("streams and writes the resident run's folder and numbers", async () => {
    const budget = Math.floor(weights / 6);
    const distill = async (tag: string, extra: string[]) => {
      const out = join(work, `distilled-${tag}`);
      const args = ['distill', '--teacher', dense, '--model', pruned, '--ids', windowsFile, '--batch', '2', '--steps', '2', '--lr', '1e-2'];
      const result = await runCli([...args, '--eval-ids', evalFile, '--eval-ctx', '16', '--out', out, '--json', ...extra]);
      expect(result.code, result.err.join('\n')).toBe(0);
      const summary = JSON.parse(result.out.at(-1)!) as { peakGpuBytes: number; streamed?: boolean };
      return { out, summary, report: JSON.parse(readFileSync(join(out, 'distill-report.json'), 'utf8')) as DistillReport };
    };
    const resident = await distill('resident', []);
    const streamed = await distill('streamed', ['--gpu-memory', String(budget)]);
    expect(resident.summary.streamed).toBe(false);
    expect(streamed.summary.streamed).toBe(true);
    expect(streamed.summary.peakGpuBytes).toBeLessThanOrEqual(budget);
    expect(resident.summary.peakGpuBytes).toBeGreaterThan(weights);

    expect(digest(join(streamed.out, 'model.safetensors'))).toBe(digest(join(resident.out, 'model.safetensors')));
    // What a run computed, without its time.
    const numbers = ({ created: _c, seconds: _s, layers, ...rest }: DistillReport) => ({ ...rest, layers: layers.map(({ seconds: _x, ...l }) => l) });
    expect(numbers(streamed.report)).toEqual(numbers(resident.report));
    expect(streamed.report.ppl_distilled).toBe(resident.report.ppl_distilled);
    expect(streamed.report.masks_preserved.nonzero_after).toBe(0);
    expect(resident.report.layers).toHaveLength(CONFIG.num_hidden_layers);
    for (const l of resident.report.layers) expect(l.mse_after!).toBeLessThan(l.mse_before);

    // Stopped inside layer 24 and resumed, still streamed: the finished layers' experts go back into the mask set
    // from the saved state, and the layer inputs are computed again from the embedding.
    const half = await distill('half', ['--gpu-memory', String(budget), '--until-step', '49', '--save-state']);
    expect(half.report.finished).toBe(false);
    const resumed = await distill('resumed', ['--gpu-memory', String(budget), '--resume', join(half.out, 'distill-state.safetensors')]);
    expect(resumed.summary.peakGpuBytes).toBeLessThanOrEqual(budget);
    expect(digest(join(resumed.out, 'model.safetensors'))).toBe(digest(join(resident.out, 'model.safetensors')));
  });
});
