/**
 * Everything `moe-lab prune --out DIR` (and the page's download) writes, in order: the pruned Hugging Face folder
 * (hf-folder.ts), masks.safetensors (src/engine/prune/masks-file.ts) and last prune-report.json — the run's report
 * (method, settings, seed, calibration, layer targets, dropped experts, achieved sparsity per matrix) plus the model
 * it came from and the SHA-256 of every input file read and every file written. Writing goes through a callback,
 * so the CLI streams to disk and the page collects bytes for a zip.
 */
import type { MoeModelSpec } from '../model/spec.ts';
import { MASKS_FILE, masksToSafetensors } from '../prune/masks-file.ts';
import { neuronStructureOf } from '../prune/neurons.ts';
import type { PruneReport } from '../prune/report.ts';
import { prunedModelEntries, writeEntries, type ExportEntry, type FileHash, type PrunedModelInput, type SourceHashes } from './hf-folder.ts';

export const REPORT_FILE = 'prune-report.json';

export interface ModelIdentity {
  /** The folder, repo id or file names the model was loaded from. */
  name: string;
  architecture: MoeModelSpec['architecture'];
  /** src/engine/experiment/model-hash.ts of the input. */
  contentHash?: string;
}

/** prune-report.json: the run's report with the model and the file hashes. */
export interface PruneReportFile extends PruneReport {
  model: ModelIdentity;
  /** Input files read (SHA-256 of their bytes). */
  sourceFiles: FileHash[];
  /** Files written beside the report. */
  files: FileHash[];
}

export interface ExportWhat {
  /** The pruned model folder (default true); false writes only the masks and the report. */
  model?: boolean;
  /** Metadata for masks.safetensors (e.g. model_hash, method). */
  masksMetadata?: Record<string, string>;
}

/** masks.safetensors as an entry. */
function bytesEntry(path: string, bytes: Uint8Array): ExportEntry {
  return {
    path,
    async *chunks() {
      yield bytes;
    },
  };
}

/** Writes the export through `write` and returns the report written last. */
export async function writePrunedExport(
  input: PrunedModelInput,
  report: PruneReport,
  model: ModelIdentity,
  write: (path: string, chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  what: ExportWhat = {},
  signal?: AbortSignal,
): Promise<PruneReportFile> {
  const sources: SourceHashes = new Map();
  // A neuron pruning's masks are whole neurons (checked): the folder holds the smaller experts.
  if (report.settings.structure === 'neurons' && input.neurons === undefined)
    input = { ...input, neurons: neuronStructureOf(input.checkpoint.spec, input.masks) };
  const entries = what.model === false ? [] : await prunedModelEntries(input, sources);
  const masksMetadata = { method: report.method, ...(model.contentHash ? { model_hash: model.contentHash } : {}), ...what.masksMetadata };
  entries.push(bytesEntry(MASKS_FILE, masksToSafetensors(input.checkpoint.spec, input.masks, masksMetadata)));
  const files = await writeEntries(entries, write, signal);
  const full: PruneReportFile = { ...report, model, sourceFiles: [...sources.values()], files };
  await writeEntries([bytesEntry(REPORT_FILE, new TextEncoder().encode(`${JSON.stringify(full, null, 2)}\n`))], write, signal);
  return full;
}
