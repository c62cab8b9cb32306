/**
 * Host memory of layer streaming, the acceptance's resident-memory half: `moe-lab ppl` on a synthetic f32 model of
 * about 480 MB, run as a child process (its own heap and Dawn device), once resident and once with --gpu-memory at
 * two layers' weight bytes. On a CPU Vulkan driver (lavapipe) GPU buffers live in host memory, so the process's
 * peak resident set (getrusage's ru_maxrss, printed at exit by a preloaded module) is where the difference shows:
 * the streamed run must peak at least half the weight bytes lower, with the same perplexity.
 * Why 24 layers: what a streamed run holds beside its GPU slots (the layer read ahead, Dawn's upload staging, read
 * buffers the garbage collector has not yet freed) is a few layers' worth whatever the depth. With 12 layers (244 MB)
 * it once left the test a 2 MB margin (resident 520, streamed 396 MB); a deeper model of the same layers measures
 * what streaming saves (memory that grows with the depth) with room for that noise (lavapipe: 757-777 against
 * 354-357 MB).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import { createRng } from '../../src/engine/random.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

/** Mixtral-shaped, 24 layers of about 20 MB in f32 (8 experts of FFN 768 on hidden 256). */
const CONFIG = {
  architectures: ['MixtralForCausalLM'],
  model_type: 'mixtral',
  hidden_size: 256,
  intermediate_size: 768,
  num_hidden_layers: 24,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_local_experts: 8,
  num_experts_per_tok: 2,
  vocab_size: 4096,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 256,
  tie_word_embeddings: false,
};

/** Writes the synthetic folder to disk in 16 MiB pieces (the CLI reads folders). */
async function writeModel(dir: string): Promise<void> {
  const folder = syntheticModelFolder(CONFIG, 'F32', 5);
  mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'model.safetensors']) {
    const source = (await folder.open(file))!;
    const size = await source.size();
    const fd = openSync(join(dir, file), 'w');
    try {
      for (let at = 0; at < size; at += 16 << 20) writeSync(fd, await source.read(at, Math.min(16 << 20, size - at)));
    } finally {
      closeSync(fd);
    }
  }
}

/** Prints the process's peak resident set (bytes) to stderr when it exits. */
const PEAK_RSS_PRELOAD = "data:text/javascript,process.on('exit',()=>process.stderr.write('peak-rss '+process.resourceUsage().maxRSS*1024+'\\n'))";

interface Run {
  peakRss: number;
  report: { ppl: number; peakGpuBytes: number; streamed?: boolean };
}

/** `moe-lab ppl ... --json` in a child process: its JSON report and peak resident bytes. */
function pplChild(model: string, ids: string, extra: string[]): Run {
  const child = spawnSync(process.execPath, ['--import', PEAK_RSS_PRELOAD, 'bin/moe-lab.mjs', 'ppl', '--model', model, '--ids', ids, '--json', ...extra], {
    encoding: 'utf8',
    env: process.env,
    maxBuffer: 16 << 20,
  });
  if (child.status !== 0) throw new Error(`moe-lab ppl ${extra.join(' ')} exited ${child.status}:\n${child.stderr}`);
  const peak = /peak-rss (\d+)/.exec(child.stderr);
  if (!peak) throw new Error(`no peak-rss line in the child's stderr:\n${child.stderr}`);
  return { peakRss: Number(peak[1]), report: JSON.parse(child.stdout.trim().split('\n').at(-1)!) };
}

describe('host memory of a streamed ppl', () => {
  it('--gpu-memory at two layers of weights: the same perplexity, peak RSS lower by at least half the weight bytes', { timeout: 600_000 }, async () => {
    const work = scratchDir('moe-lab-stream-rss-');
    const model = join(work, 'model');
    await writeModel(model);
    const checkpoint = await openCheckpoint(syntheticModelFolder(CONFIG, 'F32', 5));
    const weights = [...checkpoint.tensors.values()].reduce((n, t) => n + t.info.byteLength, 0);
    expect(weights).toBeGreaterThan(450e6);
    const rng = createRng(11);
    const ids = join(work, 'ids.json');
    writeFileSync(ids, JSON.stringify(Array.from({ length: 24 }, () => rng.int(CONFIG.vocab_size))));

    const resident = pplChild(model, ids, []);
    const streamed = pplChild(model, ids, ['--gpu-memory', String(Math.floor((2 * weights) / CONFIG.num_hidden_layers))]);
    const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
    console.log(
      `weights ${mb(weights)}; peak RSS resident ${mb(resident.peakRss)}, streamed ${mb(streamed.peakRss)} ` +
        `(lower by ${mb(resident.peakRss - streamed.peakRss)}); peak GPU ${mb(resident.report.peakGpuBytes)} vs ${mb(streamed.report.peakGpuBytes)}`,
    );
    expect(resident.report.peakGpuBytes).toBeGreaterThan(weights);
    expect(streamed.report.streamed).toBe(true);
    expect(streamed.report.ppl).toBe(resident.report.ppl);
    expect(resident.peakRss - streamed.peakRss).toBeGreaterThanOrEqual(weights / 2);
  });
});
