/** The shape of a CLI command; `io` is injected so tests can run commands in-process. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CommandIo): Promise<number>;
}
