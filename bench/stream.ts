/**
 * Layer streaming (docs/forward.md "Layer streaming") on real model shapes, JSON out. Seeded synthetic weights
 * (syntheticModelFolder) of a published config from bench/shapes/ with its layer count cut to --layers, written
 * once to a folder under the OS temp dir; then `moe-lab ppl`, `calibrate` (dense) and `prune` (MoE-Pruner 50%,
 * export included) each run as a child process, resident (no budget) and streamed (--gpu-memory below the
 * weights), reporting per command:
 *   wallSeconds, cpuSeconds (the child's user + system CPU: on a CPU Vulkan driver the shaders run on its threads),
 *   secondsPerLayer (wall / layers), peakGpuBytes (the command's --json), peakHostBytes (its ru_maxrss),
 *   readBytesPerSecond (layer bytes read per pass / wall; one pass for ppl and calibrate).
 * Reading alone: every decoder layer's tensors read by ranges from the files (readSeconds, bytes per second; the
 * files were just written, so the page cache usually serves them). overlap = 1 - max(0, streamed - resident
 * wall) / readSeconds for ppl: 1 when streaming costs no more than reading once up front, 0 when none of the
 * layer reads hides behind computation.
 * --plan prints instead, for each shape at its full depth, the weight bytes, one layer's bytes, the resident part
 * of a streamed model (embedding, final norm, LM head) and which GPU sizes hold it resident or streamed.
 * Run: scripts/with-vulkan.sh node --import tsx bench/stream.ts [--shape granite|olmoe|qwen3|mixtral] [--layers 3]
 *      [--dtype BF16|F16|F32] [--tokens 32] [--windows 4] [--budget BYTES] [--no-resident] | --plan
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import type { Dtype } from '../src/engine/io/safetensors.ts';
import { syntheticModelFolder } from '../src/engine/io/synthetic-folder.ts';
import { openCheckpoint, type Checkpoint } from '../src/engine/model/checkpoint.ts';
import { parseConfigJson } from '../src/engine/model/config.ts';
import { createRng } from '../src/engine/random.ts';

/** The shapes: published config.json files (bench/shapes/). */
const SHAPES: Record<string, string> = {
  granite: 'granite-3.0-1b-a400m.json',
  olmoe: 'olmoe-1b-7b.json',
  qwen3: 'qwen3-30b-a3b.json',
  mixtral: 'mixtral-8x7b.json',
};

/** GPU sizes of the README's table, in GiB (a "4 GB" card holds about 4 GiB). */
const GPU_GIB = [4, 8, 16, 24];

/**
 * What a pass keeps on the GPU besides weights, for the plan: a batch of 8 x 512 tokens' activations and scratch.
 * Measured here as the streamed runs' peakGpuBytes less their weights (bench/README.md).
 */
const ACTIVATION_BYTES = 1 << 30;

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'granite' },
    layers: { type: 'string', default: '3' },
    dtype: { type: 'string', default: 'BF16' },
    tokens: { type: 'string', default: '32' },
    windows: { type: 'string', default: '4' },
    budget: { type: 'string' },
    'no-resident': { type: 'boolean', default: false },
    plan: { type: 'boolean', default: false },
  },
});

function shapeConfig(shape: string, layers?: number): Record<string, unknown> {
  const file = SHAPES[shape];
  if (!file) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')} (got ${shape})`);
  const config = JSON.parse(readFileSync(new URL(`./shapes/${file}`, import.meta.url), 'utf8')) as Record<string, unknown>;
  return layers ? { ...config, num_hidden_layers: layers } : config;
}

/** Weight bytes of a checkpoint: per decoder layer, and the rest (embedding, final norm, LM head). */
function weightBytes(checkpoint: Checkpoint): { total: number; layers: number[]; resident: number } {
  const byLayer = checkpoint.names.layers.map(() => 0);
  let total = 0;
  for (const { info } of checkpoint.tensors.values()) {
    total += info.byteLength;
    const m = /(?:^|\.)layers\.(\d+)\./.exec(info.name);
    if (m) byLayer[Number(m[1])] += info.byteLength;
  }
  return { total, layers: byLayer, resident: total - byLayer.reduce((a, b) => a + b, 0) };
}

const gib = (b: number) => Number((b / 2 ** 30).toFixed(3));

async function plan(): Promise<void> {
  const dtype = values.dtype as Dtype;
  const rows = [];
  for (const shape of Object.keys(SHAPES)) {
    const config = shapeConfig(shape);
    const checkpoint = await openCheckpoint(syntheticModelFolder(config, dtype, 1));
    const w = weightBytes(checkpoint);
    const layer = Math.max(...w.layers);
    // Resident: every weight plus activations. Streamed: the resident part and the one layer computing, plus
    // activations (the next layer is read ahead into host memory, and goes up only once the current one is freed).
    const residentNeeds = w.total + ACTIVATION_BYTES;
    const streamedNeeds = w.resident + layer + ACTIVATION_BYTES;
    rows.push({
      shape,
      layers: checkpoint.spec.numLayers,
      weightGiB: gib(w.total),
      layerGiB: gib(layer),
      residentPartGiB: gib(w.resident),
      residentNeedsGiB: gib(residentNeeds),
      streamedNeedsGiB: gib(streamedNeeds),
      // Host memory of a streamed run: the layer read ahead and the one being uploaded, besides the process itself.
      streamedHostGiB: gib(2 * layer),
      gpus: Object.fromEntries(GPU_GIB.map((g) => [`${g}GB`, residentNeeds <= g * 2 ** 30 ? 'resident' : streamedNeeds <= g * 2 ** 30 ? 'streamed' : 'no'])),
    });
  }
  console.log(JSON.stringify({ bench: 'stream-plan', dtype, activationBytes: ACTIVATION_BYTES, rows }, null, 2));
}

/** The synthetic folder on disk (written once; the CLI reads folders), in 16 MiB pieces. */
async function modelFolder(shape: string, layers: number, dtype: Dtype): Promise<string> {
  const dir = join(tmpdir(), 'moe-lab-bench-stream', `${shape}-${layers}-${dtype}`);
  if (existsSync(join(dir, 'model.safetensors'))) return dir;
  mkdirSync(dir, { recursive: true });
  const folder = syntheticModelFolder(shapeConfig(shape, layers), dtype, 1);
  for (const file of ['config.json', 'model.safetensors']) {
    const source = (await folder.open(file))!;
    const size = await source.size();
    const fd = openSync(join(dir, `${file}.part`), 'w');
    for (let at = 0; at < size; at += 16 << 20) writeSync(fd, await source.read(at, Math.min(16 << 20, size - at)));
    closeSync(fd);
    renameSync(join(dir, `${file}.part`), join(dir, file));
  }
  return dir;
}

/** The child's peak resident set and CPU time, printed at exit. */
const PRELOAD =
  "data:text/javascript,process.on('exit',()=>{const u=process.resourceUsage();process.stderr.write('bench-usage '+u.maxRSS*1024+' '+(u.userCPUTime+u.systemCPUTime)+'\\n')})";

interface CommandRun {
  wallSeconds: number;
  cpuSeconds: number;
  secondsPerLayer: number;
  peakGpuBytes: number;
  peakHostBytes: number;
  streamed: boolean | null;
  readBytesPerSecond: number | null;
}

function runCommand(args: string[], layers: number, layerBytes: number, passes: number | null): CommandRun {
  const started = performance.now();
  const child = spawnSync(process.execPath, ['--import', PRELOAD, 'bin/moe-lab.mjs', ...args, '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wallSeconds = (performance.now() - started) / 1000;
  if (child.status !== 0) throw new Error(`moe-lab ${args.join(' ')} exited ${child.status}:\n${child.stderr}`);
  const usage = /bench-usage (\d+) (\d+)/.exec(child.stderr);
  const report = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { peakGpuBytes: number; streamed?: boolean };
  return {
    wallSeconds: Number(wallSeconds.toFixed(2)),
    cpuSeconds: usage ? Number((Number(usage[2]) / 1e6).toFixed(2)) : NaN,
    secondsPerLayer: Number((wallSeconds / layers).toFixed(3)),
    peakGpuBytes: report.peakGpuBytes,
    peakHostBytes: usage ? Number(usage[1]) : NaN,
    streamed: report.streamed ?? null,
    readBytesPerSecond: passes ? Math.round((passes * layerBytes) / wallSeconds) : null,
  };
}

async function measure(): Promise<void> {
  const shape = values.shape!;
  const layers = Number(values.layers);
  const dtype = values.dtype as Dtype;
  const made = performance.now();
  const dir = await modelFolder(shape, layers, dtype);
  const writeSeconds = (performance.now() - made) / 1000;
  const checkpoint = await openCheckpoint(await directoryFolder(dir));
  const w = weightBytes(checkpoint);
  const layerBytes = w.total - w.resident;
  // Reading alone: each layer's tensors by ranges, as a streamed pass reads them.
  const readStarted = performance.now();
  for (const { info, source } of checkpoint.tensors.values()) if (/(?:^|\.)layers\.\d+\./.test(info.name)) await source.read(info.byteOffset, info.byteLength);
  const readSeconds = (performance.now() - readStarted) / 1000;
  // The budget: the resident part, one layer and a half, and 32 MiB of activations (streams when layers >= 2).
  const budget = values.budget ? Number(values.budget) : Math.floor(w.resident + 1.5 * Math.max(...w.layers) + (32 << 20));
  const rng = createRng(5);
  const vocab = parseConfigJson('config.json', readFileSync(join(dir, 'config.json'), 'utf8')).vocabSize;
  const tokens = Number(values.tokens);
  const ids = join(dir, 'ids.json');
  const windows = join(dir, 'windows.json');
  writeFileSync(ids, JSON.stringify(Array.from({ length: tokens }, () => rng.int(vocab))));
  writeFileSync(windows, JSON.stringify(Array.from({ length: Number(values.windows) }, () => Array.from({ length: tokens }, () => rng.int(vocab)))));
  const commands = (tag: string): [string, string[], number | null][] => [
    ['ppl', ['ppl', '--model', dir, '--ids', ids], 1],
    ['calibrate', ['calibrate', '--model', dir, '--ids', windows, '--out', join(dir, `stats-${tag}.safetensors`)], 1],
    ['prune', ['prune', '--model', dir, '--method', 'moe-pruner', '--sparsity', '0.5', '--ids', windows, '--out', join(dir, `pruned-${tag}`)], null],
  ];
  const runs: Record<string, Record<string, CommandRun>> = {};
  for (const mode of values['no-resident'] ? ['streamed'] : ['resident', 'streamed']) {
    runs[mode] = {};
    for (const [name, args, passes] of commands(mode)) {
      if (name === 'prune') mkdirSync(join(dir, `pruned-${mode}`), { recursive: true });
      runs[mode][name] = runCommand(mode === 'streamed' ? [...args, '--gpu-memory', String(budget)] : args, layers, layerBytes, passes);
    }
  }
  const overlap = runs.resident
    ? Number((1 - Math.max(0, runs.streamed.ppl.wallSeconds - runs.resident.ppl.wallSeconds) / Math.max(readSeconds, 1e-9)).toFixed(2))
    : null;
  console.log(
    JSON.stringify(
      {
        bench: 'stream',
        shape,
        layers,
        dtype,
        tokens,
        windows: Number(values.windows),
        weightBytes: w.total,
        layerBytes: Math.max(...w.layers),
        residentPartBytes: w.resident,
        budget,
        writeSeconds: Number(writeSeconds.toFixed(1)),
        readSeconds: Number(readSeconds.toFixed(2)),
        readBytesPerSecond: Math.round(layerBytes / readSeconds),
        overlap,
        runs,
      },
      null,
      2,
    ),
  );
}

await (values.plan ? plan() : measure());
