/** `moe-lab` run in-process for the CLI tests: the exit code and what it printed, stdout and stderr apart. */
import { main } from '../../src/cli/main.ts';

export interface CliRun {
  code: number;
  /** stdout, one entry per line written. */
  out: string[];
  /** stderr, one entry per line written. */
  err: string[];
}

export async function runCli(argv: string[]): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out, err };
}

/** runCli with each stream joined by newlines, for tests that match whole messages. */
export async function runCliText(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, out, err } = await runCli(argv);
  return { code, out: out.join('\n'), err: err.join('\n') };
}
