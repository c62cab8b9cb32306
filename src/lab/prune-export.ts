/**
 * The pruned model's downloads, written by the pruning export (src/engine/export/pruned-export.ts, the same code as
 * `moe-lab prune --out`): the Hugging Face folder (same names, layout and dtype; zeros where pruned; SparseGPT's
 * updated weights; dropped experts removed with their router rows), masks.safetensors, and prune-report.json with
 * the model and every file's SHA-256. The page asks for the whole folder, the masks alone or the report alone.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { ExportFile, ExportRequest } from '../api/lab.ts';
import { collectEntry } from '../engine/export/hf-folder.ts';
import { REPORT_FILE, writePrunedExport } from '../engine/export/pruned-export.ts';
import { MASKS_FILE } from '../engine/prune/masks-file.ts';
import { progressStep, type LabSession } from './lab-session.ts';

/** What the Export buttons download besides the statistics, and the folder (zip root) they go in. */
export async function prunedFiles(
  session: LabSession,
  kind: Exclude<ExportRequest['kind'], 'statistics'>,
  options: OperationOptions,
): Promise<{ folder: string; files: ExportFile[] }> {
  const masks = session.masks;
  if (!masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then export.' });
  const { checkpoint, summary } = session.loaded;
  const folder = `${session.name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'model'}-${masks.report.method}-pruned`;
  const files: ExportFile[] = [];
  await writePrunedExport(
    { checkpoint, masks: await masks.readMaskSet(), updatedWeights: (layer, key) => masks.updatedWeights(layer, key) },
    masks.report,
    { name: summary.name, architecture: summary.spec.architecture, contentHash: summary.contentHash },
    async (path, chunks) => {
      options.onProgress?.(progressStep('compute', `Writing ${path}`, files.length, files.length + 1));
      files.push({ path, bytes: await collectEntry({ path, chunks: () => chunks }) });
    },
    { model: kind === 'model' },
    options.signal,
  );
  const keep = kind === 'masks' ? [MASKS_FILE] : kind === 'report' ? [REPORT_FILE] : null;
  return { folder, files: keep ? files.filter((f) => keep.includes(f.path)) : files };
}
