/**
 * Downloads, made in the worker: the calibration statistics (the contract's safetensors), and later the masks,
 * the pruned Hugging Face folder and the report; packed into one stored zip when asked (zip.ts), so the page's
 * thread never runs a CRC over model-sized data.
 */
import type { OperationOptions } from '../api/engine.ts';
import type { ExportFile, ExportRequest } from '../api/lab.ts';
import { EngineError } from '../api/errors.ts';
import { directoryWriter } from '../engine/export/directory-writer.ts';
import { statisticsFile } from './calibration.ts';
import { progressStep, type LabSession } from './lab-session.ts';
import { prunedFiles } from './prune-export.ts';
import { writePruned } from './token-runs.ts';
import { zipStored } from './zip.ts';

async function filesOf(session: LabSession, request: ExportRequest, options: OperationOptions): Promise<{ folder: string; files: ExportFile[] }> {
  switch (request.kind) {
    case 'statistics':
      return { folder: 'calibration', files: [statisticsFile(session)] };
    default:
      return prunedFiles(session, request.kind, options);
  }
}

export async function exportFiles(session: LabSession, request: ExportRequest, options: OperationOptions): Promise<ExportFile[]> {
  if (request.folder) {
    // Streamed to disk: host memory stays at a tensor or so, whatever the model's size.
    if (request.kind !== 'model' || request.zip)
      throw new EngineError({ kind: 'bad-request', message: 'Only the unzipped model folder can be written into a folder.' });
    let written = 0;
    const write = directoryWriter(request.folder);
    await writePruned(
      session,
      session.loaded.summary.name,
      (path, chunks) => {
        options.onProgress?.(progressStep('compute', `Writing ${path}`, written, written + 1));
        written++;
        return write(path, chunks);
      },
      { model: true },
      options,
    );
    return [];
  }
  const { folder, files } = await filesOf(session, request, options);
  if (!request.zip) return files;
  const parts = zipStored(files.map((f) => ({ path: `${folder}/${f.path}`, bytes: f.bytes })));
  // A Blob joins the parts without another hand-written copy loop.
  return [{ path: `${folder}.zip`, bytes: new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()) }];
}
