#!/usr/bin/env node
// Every benchmark a GPU machine should measure, prepared here and run there in one command (bench/README.md, "On a
// GPU machine"). Such a machine has no network, no node_modules and little time (minutes), so:
//
//   node scripts/device-suite.mjs bundle
//     here, after `npm install`, once `.devtools/` holds node, dawn.node and prelude.sh and `.gl/` the Vulkan loader
//     (the GPU machine's packing tool makes both): bundles the benchmarks and the `moe-lab` command into
//     .devtools/suite/*.mjs, WGSL inlined, `webgpu` left to .devtools/node_modules.
//   . .devtools/prelude.sh; node scripts/device-suite.mjs run --out "$OUT" [--budget 420] [--quick]
//     there, from the repository root (the default flow reads public/models): runs the steps below in order, each in
//     its own process under a time limit taken from what is left of --budget seconds, and writes one file,
//     OUT/device-suite.json: per step its command, exit code, seconds, the benchmark's JSON (null if it printed none)
//     and the tail of its stderr. A step that fails or runs out of time is recorded and the next one runs.
//     --quick runs every step on tiny shapes: the dry run on a CPU driver that proves the suite before a GPU's
//     minutes are spent on it, with bundles under build/ so that `webgpu` resolves to node_modules here:
//     `node scripts/device-suite.mjs bundle --dir build/suite` and then
//     `scripts/with-vulkan.sh node scripts/device-suite.mjs run --dir build/suite --out /tmp/suite --quick`
//     (tests/gpu/device-suite.test.ts runs it so). --dir DIR puts the bundles elsewhere in the repository (both verbs).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/** Where the bundles go (--dir): inside the repository, so that `webgpu` resolves from node_modules here. */
const SUITE_DIR = '.devtools/suite';
const RESULT_FILE = 'device-suite.json';
const STDERR_TAIL_CHARS = 4000;

/**
 * The steps of a suite bundled in `dir`: what each measures is in bench/README.md. `args` are the full run's, `quick`
 * the dry run's; `limit` caps the step's seconds (the budget left caps it further).
 */
const steps = (dir) => [
  {
    name: 'forward-granite',
    entry: 'bench/forward.ts',
    args: ['--shape', 'granite', '--iters', '5'],
    quick: ['--shape', 'default', '--batch', '1', '--seq', '64', '--iters', '1'],
    limit: 150,
  },
  {
    name: 'prune-select',
    entry: 'bench/prune-select.ts',
    args: ['--iters', '5'],
    quick: ['--rows', '256', '--iters', '1'],
    limit: 120,
  },
  {
    // The CPU drivers' layout of row_select (4 mask words per invocation) on the GPU, beside the GPU's own above.
    name: 'prune-select-4words',
    entry: 'bench/prune-select.ts',
    args: ['--iters', '5', '--methods', 'magnitude,wanda', '--row-words', '4'],
    quick: ['--rows', '256', '--iters', '1', '--methods', 'wanda', '--dtypes', 'f16', '--row-words', '4'],
    limit: 90,
  },
  {
    name: 'calibrate',
    entry: 'bench/calibrate.ts',
    args: ['--repeat', '3'],
    quick: ['--layers', '1', '--samples', '2', '--seq-len', '64', '--batch-tokens', '128', '--repeat', '1'],
    limit: 150,
  },
  {
    name: 'default-flow',
    entry: 'bench/default-flow.ts',
    args: ['--repeat', '3', '--cli', join(dir, 'moe-lab.mjs')],
    quick: ['--repeat', '1', '--cli', join(dir, 'moe-lab.mjs')],
    limit: 90,
  },
  {
    name: 'forward-profile-granite',
    entry: 'bench/forward-profile.ts',
    args: ['--shape', 'granite', '--layers', '4', '--repeat', '2'],
    quick: ['--shape', 'default', '--batch', '1', '--seq', '64', '--repeat', '1'],
    limit: 90,
  },
  {
    name: 'forward-granite-tile',
    entry: 'bench/forward.ts',
    args: ['--shape', 'granite', '--iters', '3', '--matrix-kernels', 'tile'],
    quick: ['--shape', 'default', '--batch', '1', '--seq', '64', '--iters', '1', '--matrix-kernels', 'tile'],
    limit: 120,
  },
];

/** Bundles of the suite: each step's entry and the `moe-lab` command the default flow starts. */
const BUNDLES = [...new Set(steps('').map((s) => s.entry)), 'bench/moe-lab-entry.ts'];

function bundleName(entry) {
  const base = entry.split('/').pop().replace(/\.ts$/, '');
  return base === 'moe-lab-entry' ? 'moe-lab.mjs' : `${base}.mjs`;
}

async function bundle(dir) {
  if (!existsSync('.devtools/prelude.sh') || !existsSync('.gl')) {
    // Bundles without them serve a dry run here (`webgpu` then resolves to node_modules).
    console.error('device-suite: note: .devtools/prelude.sh or .gl/ is missing; the GPU machine needs both (its packing tool makes them)');
  }
  const { build } = await import('esbuild');
  mkdirSync(dir, { recursive: true });
  for (const entry of BUNDLES) {
    const outfile = join(dir, bundleName(entry));
    await build({
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['webgpu'],
      loader: { '.wgsl': 'text' },
      outfile,
      logLevel: 'warning',
    });
    console.log(`bundled ${entry} -> ${outfile}`);
  }
}

/** Runs one step; resolves with its record, never rejects. */
function runStep(dir, step, args, limitSeconds) {
  return new Promise((resolve) => {
    const command = [process.execPath, join(dir, bundleName(step.entry)), ...args];
    const started = performance.now();
    // The benchmarks resolve `webgpu` from the bundle's folder up: .devtools/node_modules there, node_modules here.
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk.toString()).slice(-STDERR_TAIL_CHARS);
      process.stderr.write(chunk);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitSeconds * 1000);
    const finish = (exitCode, error) => {
      clearTimeout(timer);
      let result = null;
      try {
        result = JSON.parse(stdout);
      } catch {
        // No JSON: the record keeps the output's tail instead.
      }
      resolve({
        name: step.name,
        command: command.slice(1).join(' '),
        exitCode,
        timedOut,
        limitSeconds,
        seconds: Math.round(performance.now() - started) / 1000,
        result,
        stdoutTail: result === null ? stdout.slice(-STDERR_TAIL_CHARS) : undefined,
        stderrTail: stderr,
        error: error?.message,
      });
    };
    child.on('error', (error) => finish(null, error));
    child.on('close', (code) => finish(code, undefined));
  });
}

async function run(dir, out, budgetSeconds, quick) {
  const missing = BUNDLES.map((e) => join(dir, bundleName(e))).filter((f) => !existsSync(f));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`node scripts/device-suite.mjs bundle\` first`);
  mkdirSync(out, { recursive: true });
  const deadline = performance.now() + budgetSeconds * 1000;
  const report = { suite: 'device-suite', quick, budgetSeconds, startedAt: new Date().toISOString(), steps: [] };
  const save = () => writeFileSync(join(out, RESULT_FILE), `${JSON.stringify(report, null, 2)}\n`);
  for (const step of steps(dir)) {
    const left = Math.floor((deadline - performance.now()) / 1000);
    if (left < 10) {
      report.steps.push({ name: step.name, skipped: `${left} s of the budget left` });
      continue;
    }
    console.error(`device-suite: ${step.name} (at most ${Math.min(step.limit, left)} s)`);
    report.steps.push(await runStep(dir, step, quick ? step.quick : step.args, Math.min(step.limit, left)));
    save(); // after every step, so that a machine taken back mid-run still leaves what was measured
  }
  report.seconds = Math.round(budgetSeconds * 1000 - (deadline - performance.now())) / 1000;
  save();
  const failed = report.steps.filter((s) => s.exitCode !== 0);
  console.error(`device-suite: ${report.steps.length - failed.length} of ${report.steps.length} steps gave results; ${join(out, RESULT_FILE)}`);
  return failed.length === 0 ? 0 : 1;
}

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string' },
    budget: { type: 'string', default: '420' },
    quick: { type: 'boolean', default: false },
    dir: { type: 'string', default: SUITE_DIR },
  },
});
const [verb] = positionals;
try {
  if (verb === 'bundle') {
    await bundle(values.dir);
  } else if (verb === 'run') {
    if (!values.out) throw new Error('run needs --out DIR (on the GPU machine: --out "$OUT")');
    const budget = Number(values.budget);
    if (!(budget > 0)) throw new Error(`--budget must be a positive number of seconds; got ${values.budget}`);
    process.exitCode = await run(values.dir, values.out, budget, values.quick);
  } else {
    throw new Error('usage: node scripts/device-suite.mjs bundle [--dir DIR] | run --out DIR [--budget 420] [--quick] [--dir DIR]');
  }
} catch (error) {
  console.error(`device-suite: ${error.message}`);
  process.exitCode = 2;
}
