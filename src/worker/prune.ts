/**
 * Pruning inside the worker: masks from the pruning pipeline (src/gpu/prune, being integrated by the pruning
 * engineer), applied on the fly by the forward; sweeps; the pruned model's files. Until that pipeline lands, these
 * calls refuse with a message saying so.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { ExportFile, ExportRequest, PruneRequest, PruneSummary, SweepPointRequest, SweepPointResult } from '../api/lab.ts';
import type { LabSession } from './lab-session.ts';
import type { TextLibrary } from './texts.ts';

const NOT_YET = 'Pruning is not connected to the engine yet (the pruning pipeline is being integrated).';

export async function runPrune(_session: LabSession, _texts: TextLibrary, _request: PruneRequest, _options: OperationOptions): Promise<PruneSummary> {
  throw new EngineError({ kind: 'bad-request', message: NOT_YET });
}

export async function runSweepPoint(_session: LabSession, _texts: TextLibrary, _request: SweepPointRequest, _options: OperationOptions): Promise<SweepPointResult> {
  throw new EngineError({ kind: 'bad-request', message: NOT_YET });
}

export async function prunedFiles(_session: LabSession, _kind: Exclude<ExportRequest['kind'], 'statistics'>, _options: OperationOptions): Promise<{ folder: string; files: ExportFile[] }> {
  throw new EngineError({ kind: 'bad-request', message: NOT_YET });
}
