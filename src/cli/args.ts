/** Command-line flags: node:util parseArgs with typed accessors and one-line usage errors. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedFlags {
  values: Record<string, string | boolean | undefined>;
  /** A required string flag. */
  string(name: string): string;
  optionalString(name: string): string | undefined;
  /** An optional number flag with bounds, e.g. --ctx 512. */
  number(name: string, fallback: number, bounds?: { min?: number; max?: number; integer?: boolean }): number;
  optionalNumber(name: string, bounds?: { min?: number; max?: number; integer?: boolean }): number | undefined;
  flag(name: string): boolean;
}

export function parseFlags(argv: string[], options: FlagSpec, command: string): ParsedFlags {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }) as { values: Record<string, string | boolean | undefined> });
  } catch (error) {
    throw new UsageError(`${command}: ${(error as Error).message.split('\n')[0]}`);
  }
  const optionalNumber = (name: string, { min = -Infinity, max = Infinity, integer = false } = {}): number | undefined => {
    const raw = values[name];
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
      const range = `${Number.isFinite(min) ? min : ''}..${Number.isFinite(max) ? max : ''}`;
      throw new UsageError(`${command}: --${name} must be ${integer ? 'an integer' : 'a number'} in ${range} (got ${JSON.stringify(raw)})`);
    }
    return value;
  };
  return {
    values,
    string(name) {
      const v = values[name];
      if (typeof v !== 'string' || v === '') throw new UsageError(`${command}: --${name} is required`);
      return v;
    },
    optionalString(name) {
      const v = values[name];
      return typeof v === 'string' ? v : undefined;
    },
    number(name, fallback, bounds) {
      return optionalNumber(name, bounds) ?? fallback;
    },
    optionalNumber,
    flag(name) {
      return values[name] === true;
    },
  };
}
