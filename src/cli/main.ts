/**
 * `moe-lab <command> [flags]`: the engine headless, on Node + Dawn. Contract (docs/architecture.md): JSON on stdout with
 * --json, and on bad input a non-zero exit with one line on stderr that names the file and the problem.
 */
import { EngineError } from '../api/errors.ts';
import { ModelFileError } from '../engine/errors.ts';
import { GpuError } from '../gpu/errors.ts';
import { UsageError } from './args.ts';
import { parseByteSize } from '../engine/format-bytes.ts';
import { processLayerStreaming, processPeakGpuBytes, resetPeakGpuBytes, setGpuMemoryBudget } from '../gpu/memory.ts';
import { calibrateCommand } from './commands/calibrate.ts';
import { compareMasksCommand } from './commands/compare-masks.ts';
import type { Command, CommandIo } from './commands/command.ts';
import { distillCommand } from './commands/distill.ts';
import { evalCommand } from './commands/eval.ts';
import { generateCommand } from './commands/generate.ts';
import { infoCommand } from './commands/info.ts';
import { logitsCommand } from './commands/logits.ts';
import { pplCommand } from './commands/ppl.ts';
import { pruneCommand } from './commands/prune.ts';
import { quantizeCommand } from './commands/quantize.ts';
import { runCommand } from './commands/run.ts';
import { trainCommand } from './commands/train.ts';

export const COMMANDS: Command[] = [
  infoCommand,
  logitsCommand,
  pplCommand,
  calibrateCommand,
  pruneCommand,
  quantizeCommand,
  runCommand,
  trainCommand,
  distillCommand,
  compareMasksCommand,
  generateCommand,
  evalCommand,
];

const processIo: CommandIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'usage: moe-lab <command> [flags]',
    '',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}\n  ${' '.repeat(width)}  moe-lab ${c.usage}`),
  ].join('\n');
}

/**
 * `--gpu-memory SIZE` (every command; `512MiB`, `8GiB`, plain bytes): the GPU memory budget of this run
 * (src/gpu/memory.ts). Taken out of the argv before the command reads its own flags.
 */
function gpuMemoryFlag(argv: string[], command: string): { argv: string[]; budget: number | null } {
  const rest: string[] = [];
  let budget: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg !== '--gpu-memory' && !arg.startsWith('--gpu-memory=')) {
      rest.push(arg);
      continue;
    }
    const text = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
    const bytes = text === undefined ? null : parseByteSize(text);
    if (bytes === null)
      throw new UsageError(`${command}: --gpu-memory must be a size such as 512MiB, 8GiB or a number of bytes (got ${JSON.stringify(text ?? '')})`);
    budget = bytes;
  }
  return { argv: rest, budget };
}

/**
 * With --json, every command's JSON object also says `peakGpuBytes`: the most bytes the run held on the GPU at
 * once (all buffers of its GPU context: src/gpu/memory.ts; 0 for a command that never opens the GPU), and when a
 * model went to the GPU `streamed` (its layers were streamed under the budget) and `layersResident` (most at once).
 */
function withPeakGpuBytes(io: CommandIo): CommandIo {
  return {
    err: io.err,
    out: (text) => {
      if (!text.startsWith('{')) return io.out(text);
      try {
        const value = JSON.parse(text) as Record<string, unknown>;
        io.out(JSON.stringify({ ...value, peakGpuBytes: processPeakGpuBytes(), ...processLayerStreaming() }));
      } catch {
        io.out(text);
      }
    },
  };
}

/** Runs one command; returns the exit code (0 ok, 1 bad input or failure, 2 usage, 130 cancelled with Ctrl-C). */
export async function main(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`moe-lab: unknown command '${name}' (try: ${COMMANDS.map((c) => c.name).join(', ')})`);
    return 2;
  }
  try {
    const { argv: commandArgv, budget } = gpuMemoryFlag(rest, name);
    setGpuMemoryBudget(budget);
    resetPeakGpuBytes();
    return await command.run(commandArgv, rest.includes('--json') ? withPeakGpuBytes(io) : io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`moe-lab ${error.message}\nusage: moe-lab ${command.usage}`);
      return 2;
    }
    // The lab service's errors (commands that run through it): one line; a cancelled run exits as an interrupted process does.
    if (error instanceof EngineError && error.kind === 'aborted') {
      io.err(`moe-lab: ${error.message}`);
      return 130;
    }
    if ((error instanceof EngineError && error.kind !== 'internal') || error instanceof ModelFileError || error instanceof GpuError) {
      io.err(`moe-lab: ${error.message.split('\n')[0]}`);
      return 1;
    }
    const e = error as NodeJS.ErrnoException;
    if (e?.code && e.path) {
      io.err(`moe-lab: ${e.path}: ${e.code === 'ENOENT' ? 'no such file or folder' : e.message}`);
      return 1;
    }
    io.err(`moe-lab: internal error: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}
