/**
 * The layer-streaming acceptance on the command line: a synthetic f32 Mixtral-shaped model of 32 layers written to
 * disk, run with --gpu-memory at a sixth of its weight bytes, streams (`streamed`, at most 2 layers resident) and
 * gives the resident run's perplexity, calibration statistics file and pruning masks byte for byte, with its peak
 * GPU bytes under the budget; so do a perplexity under a masks file (its masks streamed with their layers: one
 * layer's worth on the GPU) and SparseGPT in both modes (its updated weights likewise), whose export evaluates the same.
 * SparseGPT's working set for one layer (Hessians, their factors, updated weights beside the layer's own) is about
 * five layers' weights here, so the model has 32 layers: a sixth of them holds it. `quantize` (RTN under a masks
 * file, GPTQ) streams too and writes the resident run's GPTQ folder.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { createRng } from '../../src/engine/random.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { checkpointWeightBytes } from '../../src/gpu/model/gpu-model.ts';
import { runCli } from '../helpers/cli.ts';
import { STREAM_MIXTRAL_CONFIG, writeSyntheticModel } from '../helpers/stream-model.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const CONFIG = STREAM_MIXTRAL_CONFIG;

/** The synthetic folder's files on disk (the CLI reads folders). */
async function writeModel(dir: string): Promise<void> {
  await writeSyntheticModel(dir, CONFIG, 3);
}

/** A file's SHA-256 (deep equality over a multi-MB Buffer takes minutes). */
const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

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
  const work = scratchDir('moe-lab-stream-');
  const model = join(work, 'model');
  const idsFile = join(work, 'ids.json');
  const windowsFile = join(work, 'windows.json');
  /** The wanda masks the first test writes (the quantize test evaluates RTN under them). */
  const wandaMasks = join(work, 'pruned-resident', 'masks.safetensors');
  let weights = 0;
  let budget = '';

  beforeAll(async () => {
    await writeModel(model);
    weights = checkpointWeightBytes(await openCheckpoint(syntheticModelFolder(CONFIG, 'F32', 3)));
    budget = String(Math.floor(weights / 6));
    const rng = createRng(9);
    const ids = Array.from({ length: 96 }, () => rng.int(CONFIG.vocab_size));
    writeFileSync(idsFile, JSON.stringify(ids));
    writeFileSync(windowsFile, JSON.stringify([ids.slice(0, 32), ids.slice(32, 64), ids.slice(64, 96)]));
  });

  /** A command resident, then streamed under the budget: both outputs, after the streaming checks. */
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

  /** `prune` at 50% on the windows (sequential mode unless `mode`), into `out`. */
  const pruneArgs = (method: string, out: string, mode = 'sequential') => [
    'prune',
    '--model',
    model,
    '--method',
    method,
    '--sparsity',
    '0.5',
    '--mode',
    mode,
    '--ids',
    windowsFile,
    '--out',
    out,
  ];

  /** What a run computed, without what streaming changes (its memory) or what differs per run (paths, time). */
  const numbers = ({ peakGpuBytes: _a, streamed: _b, layersResident: _c, out: _o, seconds: _s, files: _f, ...rest }: Report) => rest;

  it('ppl, calibrate and prune stream and equal the resident runs', async () => {
    const ppl = await runs(() => ['ppl', '--model', model, '--ids', idsFile, '--ctx', '16', '--batch', '2']);
    expect(numbers(ppl.streamed)).toEqual(numbers(ppl.resident));

    await runs((tag) => ['calibrate', '--model', model, '--ids', windowsFile, '--out', join(work, `stats-${tag}.safetensors`)]);
    expect(readFileSync(join(work, 'stats-streamed.safetensors'))).toEqual(readFileSync(join(work, 'stats-resident.safetensors')));

    await runs((tag) => pruneArgs('wanda', join(work, `pruned-${tag}`)));
    expect(readFileSync(join(work, 'pruned-streamed', 'masks.safetensors'))).toEqual(readFileSync(wandaMasks));

    // The masks go up with their layer and back to host memory after it: a masked streamed pass holds one layer's
    // masks beside the dense streamed pass's bytes, never the model's (32 layers' bitsets here).
    const maskBytes = readFileSync(wandaMasks).byteLength;
    const masked = await runs(() => ['ppl', '--model', model, '--ids', idsFile, '--ctx', '16', '--batch', '2', '--masks', wandaMasks]);
    expect(numbers(masked.streamed)).toEqual(numbers(masked.resident));
    expect(masked.streamed.peakGpuBytes - ppl.streamed.peakGpuBytes).toBeLessThan(maskBytes / 4);
  });

  it('SparseGPT prunes and its export evaluates as resident', async () => {
    // SparseGPT's updated weights (as large as the experts) stay within the budget too: prune, then evaluate the export.
    // Both modes hold one layer's Hessians at a time (dense mode streamed: each layer pruned as soon as its sums are complete).
    for (const mode of ['sequential', 'dense']) {
      const out = (tag: string) => join(work, `sparsegpt-${mode}-${tag}`);
      await runs((tag) => pruneArgs('sparsegpt', out(tag), mode));
      for (const file of ['masks.safetensors', 'model.safetensors']) {
        expect(digest(join(out('streamed'), file)), `${mode} ${file}`).toBe(digest(join(out('resident'), file)));
      }
    }
    const exported = await runs((tag) => ['ppl', '--model', join(work, `sparsegpt-sequential-${tag}`), '--ids', idsFile, '--ctx', '16', '--batch', '2']);
    expect(numbers(exported.streamed)).toEqual(numbers(exported.resident));
  });

  it("quantize (RTN under masks, GPTQ) writes the resident run's folder", async () => {
    // Quantization goes layer by layer too (RTN under the wanda masks; GPTQ quantizing each layer as soon as its
    // Hessians are summed): the same GPTQ folder, report and quantized perplexity.
    for (const [method, extra] of [
      ['rtn', ['--masks', wandaMasks]],
      ['gptq', ['--ids', windowsFile]],
    ] as const) {
      const out = (tag: string) => join(work, `${method}-${tag}`);
      const quantized = await runs((tag) => [
        'quantize',
        '--model',
        model,
        '--method',
        method,
        '--bits',
        '4',
        ...extra,
        '--eval-ids',
        idsFile,
        '--eval-ctx',
        '16',
        '--out',
        out(tag),
      ]);
      expect(numbers(quantized.streamed), method).toEqual(numbers(quantized.resident));
      for (const file of ['model.safetensors', 'config.json']) {
        expect(digest(join(out('streamed'), file)), `${method} ${file}`).toBe(digest(join(out('resident'), file)));
      }
    }
  });
});
