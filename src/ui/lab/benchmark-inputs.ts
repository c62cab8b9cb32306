/**
 * The Benchmarks step's task files for the experiment's selection (src/engine/eval/benchmark-selection.ts): the
 * shipped BLiMP subset, fetched once per page, filtered to the chosen field or paradigm; or the uploaded file whose
 * hash the selection names (uploads are remembered here for the page's life, as pasted texts are in the engine).
 * The Benchmarks panel and the sweep's BLiMP metric both read the items through here.
 */
import type { BenchmarkTaskInput } from '../../api/benchmarks.ts';
import { selectionTaskFile, SHIPPED_BLIMP_FILE, taskFileHash } from '../../engine/eval/benchmark-selection.ts';
import type { CalibrationText } from '../../engine/experiment/vocabulary.ts';

let blimpLines: Promise<string[]> | null = null;
const uploads = new Map<string, BenchmarkTaskInput>();

/** The shipped BLiMP file's lines, fetched once per page. */
export function shippedBlimp(): Promise<string[]> {
  blimpLines ??= fetch(SHIPPED_BLIMP_FILE).then(async (response) => {
    if (!response.ok) throw new Error(`${SHIPPED_BLIMP_FILE}: HTTP ${response.status}`);
    return (await response.text()).split('\n').filter((line) => line.trim());
  });
  blimpLines.catch(() => (blimpLines = null));
  return blimpLines;
}

/** Remembers an uploaded task file and returns the hash a selection names it by. */
export async function rememberUpload(input: BenchmarkTaskInput): Promise<string> {
  const hash = await taskFileHash(input.text);
  uploads.set(hash, input);
  return hash;
}

/** The uploaded file with this hash, if this page has it. */
export function uploadedFile(hash: string): BenchmarkTaskInput | null {
  return uploads.get(hash) ?? null;
}

/** The task file the selection scores; an Error saying what is missing when it cannot be had. */
export function benchmarkInput(tasks: CalibrationText): Promise<BenchmarkTaskInput> {
  return selectionTaskFile(tasks, shippedBlimp, uploadedFile, 'upload the same task file to score it');
}
