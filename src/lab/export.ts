/**
 * Downloads, made in the worker: the calibration statistics (the contract's safetensors), and later the masks,
 * the pruned Hugging Face folder and the report; packed into one stored zip when asked (zip.ts), so the page's
 * thread never runs a CRC over model-sized data.
 */
import type { OperationOptions } from '../api/engine.ts';
import type { ExportFile, ExportRequest } from '../api/lab.ts';
import { statisticsFile } from './calibration.ts';
import type { LabSession } from './lab-session.ts';
import { prunedFiles } from './prune-export.ts';
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
  const { folder, files } = await filesOf(session, request, options);
  if (!request.zip) return files;
  const parts = zipStored(files.map((f) => ({ path: `${folder}/${f.path}`, bytes: f.bytes })));
  // A Blob joins the parts without another hand-written copy loop.
  return [{ path: `${folder}.zip`, bytes: new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()) }];
}
