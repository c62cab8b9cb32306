/**
 * hubFolder's per-chunk download reports -> the Engine's Progress, with every file's bar, at most one message per
 * `intervalMs` (a 1 GB download is ~16k chunks: posting each would flood the page), except a file's first and last
 * report, which always go through so bars start and finish exactly.
 */
import type { FileProgress, ModelFileInfo, OperationOptions } from '../api/engine.ts';
import type { HubProgress } from '../engine/io/hub-folder.ts';

export interface DownloadReporter {
  /** The files about to move (from the estimate; cached ones start full), reported at once as the first progress. */
  start(name: string, files: readonly ModelFileInfo[]): void;
  report(progress: HubProgress): void;
}

export function downloadReporter(onProgress: OperationOptions['onProgress'], intervalMs = 100, now: () => number = Date.now): DownloadReporter {
  const files = new Map<string, FileProgress>();
  let lastSent = -Infinity;
  const send = (message: string, done: number, total: number) =>
    onProgress?.({ stage: 'download', message, done, total, unit: 'bytes', files: [...files.values()].map((f) => ({ ...f })) });
  return {
    start(name, list) {
      files.clear();
      for (const f of list) files.set(f.file, { file: f.file, loaded: f.cached ? f.bytes : 0, total: f.bytes, ...(f.cached ? { cached: true } : {}) });
      const loaded = list.reduce((n, f) => n + (f.cached ? f.bytes : 0), 0);
      send(
        `Downloading ${name}`,
        loaded,
        list.reduce((n, f) => n + f.bytes, 0),
      );
    },
    report(p) {
      if (!onProgress) return;
      const known = files.get(p.file);
      const total = p.fileTotal ?? known?.total ?? 0;
      files.set(p.file, { file: p.file, loaded: p.fileLoaded, total });
      const edge = !known || known.loaded === 0 || p.fileLoaded >= total;
      const time = now();
      if (!edge && time - lastSent < intervalMs) return;
      lastSent = time;
      send(`Downloading ${p.file}`, p.loaded, p.total);
    },
  };
}
