/**
 * The layer-streaming acceptance on the command line: a synthetic f32 Mixtral-shaped model of 16 layers written to
 * disk, run with --gpu-memory at a sixth of its weight bytes, streams (`streamed`, at most 2 layers resident) and
 * gives the resident run's perplexity, calibration statistics file and pruning masks byte for byte, with its peak
 * GPU bytes under the budget.
 */
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { createRng } from '../../src/engine/random.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { checkpointWeightBytes } from '../../src/gpu/model/gpu-model.ts';
import { runCli } from '../helpers/cli.ts';

const CONFIG = {
  architectures: ['MixtralForCausalLM'],
  model_type: 'mixtral',
  hidden_size: 64,
  intermediate_size: 96,
  num_hidden_layers: 16,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  num_local_experts: 8,
  num_experts_per_tok: 2,
  vocab_size: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 64,
  tie_word_embeddings: false,
};

/** The synthetic folder's files on disk (the CLI reads folders). */
async function writeModel(dir: string): Promise<void> {
  const folder = syntheticModelFolder(CONFIG, 'F32', 3);
  mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'model.safetensors']) {
    const source = (await folder.open(file))!;
    writeFileSync(join(dir, file), await source.read(0, await source.size()));
  }
}

interface Report {
  peakGpuBytes: number;
  streamed?: boolean;
  layersResident?: number;
  [key: string]: unknown;
}

async function json(args: string[]): Promise<Report> {
  const result = await runCli([...args, '--json']);
  expect(result.err.filter((line) => !/coverage|warning/i.test(line))).toEqual([]);
  expect(result.code).toBe(0);
  return JSON.parse(result.out.at(-1)!) as Report;
}

describe('moe-lab with --gpu-memory at a sixth of the weights', () => {
  it('ppl, calibrate and prune stream and equal the resident runs', async () => {
    const work = mkdtempSync(join(tmpdir(), 'moe-lab-stream-'));
    const model = join(work, 'model');
    await writeModel(model);
    const weights = checkpointWeightBytes(await openCheckpoint(syntheticModelFolder(CONFIG, 'F32', 3)));
    const budget = String(Math.floor(weights / 6));
    const rng = createRng(9);
    const ids = Array.from({ length: 96 }, () => rng.int(CONFIG.vocab_size));
    const idsFile = join(work, 'ids.json');
    writeFileSync(idsFile, JSON.stringify(ids));
    const windowsFile = join(work, 'windows.json');
    writeFileSync(windowsFile, JSON.stringify([ids.slice(0, 32), ids.slice(32, 64), ids.slice(64, 96)]));

    const runs = async (args: (tag: string) => string[]) => {
      const resident = await json(args('resident'));
      const streamed = await json([...args('streamed'), '--gpu-memory', budget]);
      expect(resident.streamed).toBe(false);
      expect(streamed.streamed).toBe(true);
      expect(streamed.layersResident).toBe(1);
      expect(streamed.peakGpuBytes).toBeLessThanOrEqual(Number(budget));
      expect(resident.peakGpuBytes).toBeGreaterThan(weights);
      return { resident, streamed };
    };

    const ppl = await runs(() => ['ppl', '--model', model, '--ids', idsFile, '--ctx', '16', '--batch', '2']);
    const { peakGpuBytes: _a, streamed: _b, layersResident: _c, ...pplResident } = ppl.resident;
    const { peakGpuBytes: _d, streamed: _e, layersResident: _f, ...pplStreamed } = ppl.streamed;
    expect(pplStreamed).toEqual(pplResident);

    await runs((tag) => ['calibrate', '--model', model, '--ids', windowsFile, '--out', join(work, `stats-${tag}.safetensors`)]);
    expect(readFileSync(join(work, 'stats-streamed.safetensors'))).toEqual(readFileSync(join(work, 'stats-resident.safetensors')));

    await runs((tag) => [
      'prune',
      '--model',
      model,
      '--method',
      'wanda',
      '--sparsity',
      '0.5',
      '--mode',
      'sequential',
      '--ids',
      windowsFile,
      '--out',
      join(work, `pruned-${tag}`),
    ]);
    expect(readFileSync(join(work, 'pruned-streamed', 'masks.safetensors'))).toEqual(readFileSync(join(work, 'pruned-resident', 'masks.safetensors')));
  });
});
