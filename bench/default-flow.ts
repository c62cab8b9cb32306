/**
 * The page's default flow end to end, headless: `moe-lab run --experiment LINK --json` on the default experiment
 * (load the default model, calibrate, prune, the dense and the pruned perplexity), the same lab service and requests
 * the page's "Reproduce this experiment" uses. Each run is a fresh process, so the figure includes starting the GPU
 * device, building the pipelines and reading the model, as a first visit to the page does. JSON out: per run the
 * process's wall seconds, its CPU seconds (user + system, from bash's `time`: on a CPU Vulkan driver the shaders run
 * on the process's threads), the seconds `run` reports for its own work, each step's start from the progress lines
 * on stderr, and the two perplexities (which must not differ between runs).
 * Run: scripts/with-vulkan.sh node --import tsx bench/default-flow.ts [--link LINK] [--repeat 3] [--cli FILE]
 * `--cli` names the script that runs `moe-lab` (bin/moe-lab.mjs; on a machine without node_modules the bundle
 * .devtools/suite/moe-lab.mjs of scripts/device-suite.mjs). The times come from bash's `time`, which every Linux
 * machine has (GNU time is not on every one).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { encodeExperiment } from '../src/engine/experiment/url.ts';
import { defaultExperiment } from '../src/engine/experiment/schema.ts';

const { values } = parseArgs({
  options: {
    link: { type: 'string', default: encodeExperiment(defaultExperiment()) },
    repeat: { type: 'string', default: '3' },
    cli: { type: 'string', default: 'bin/moe-lab.mjs' },
  },
});
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat must be a positive integer (got ${values.repeat})`);

interface FlowRun {
  wallSeconds: number;
  cpuSeconds: number;
  /** `seconds` of `moe-lab run --json`: from the model's load to the last perplexity. */
  runSeconds: number;
  /** Each progress line's first appearance, seconds after the process started. */
  steps: { step: string; atSeconds: number }[];
  densePpl: number;
  prunedPpl: number;
}

const TIME_MARK = 'default-flow-time';

function runOnce(link: string): Promise<FlowRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // bash's `time` prints wall, user and system seconds on its own stderr after the command's.
    const timed = `TIMEFORMAT='${TIME_MARK} %R %U %S'; time "$@"`;
    const command = [process.execPath, values.cli, 'run', '--experiment', link, '--json'];
    const child = spawn('bash', ['-c', timed, 'default-flow', ...command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let pending = '';
    const steps: FlowRun['steps'] = [];
    let times: number[] | null = null;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (line.startsWith(TIME_MARK)) times = line.split(' ').slice(1).map(Number);
        const step = /^moe-lab run: (.*?)(?:: .*| \(\d+%\))?$/.exec(line)?.[1];
        if (step && !steps.some((s) => s.step === step)) steps.push({ step, atSeconds: (performance.now() - started) / 1000 });
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || !times) return reject(new Error(`moe-lab run exited with ${code}: ${stdout.slice(-500)}`));
      const out = JSON.parse(stdout) as { seconds: number; dense: { ppl: number }; pruned: { ppl: number } };
      const [wall, user, system] = times;
      resolve({ wallSeconds: wall, cpuSeconds: user + system, runSeconds: out.seconds, steps, densePpl: out.dense.ppl, prunedPpl: out.pruned.ppl });
    });
  });
}

const runs: FlowRun[] = [];
for (let i = 0; i < repeat; i++) runs.push(await runOnce(values.link));
const fastest = runs.reduce((a, b) => (b.wallSeconds < a.wallSeconds ? b : a));
const samePerplexities = runs.every((r) => r.densePpl === runs[0].densePpl && r.prunedPpl === runs[0].prunedPpl);
console.log(JSON.stringify({ link: values.link, repeat, fastest, samePerplexities, runs }, null, 2));
