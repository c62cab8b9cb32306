import type { ExportRequest } from '../../api/lab.ts';
import { useLab, useLabActions, type Lab } from '../../state/store.ts';
import { useContext } from 'react';
import { LabContext } from '../../state/store.ts';
import { saveFile } from '../download.ts';
import { experimentReport, sparsityCsv } from './reports.ts';
import { TaskView, useRunning } from './TaskView.tsx';

/** The File System Access API's folder picker (Chromium), where the browser has it. */
type DirectoryPicker = (options?: { mode?: 'readwrite' }) => Promise<FileSystemDirectoryHandle>;
const directoryPicker = (): DirectoryPicker | null => (globalThis as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker ?? null;

/** Downloads: the pruned model (a Hugging Face folder, zipped or into a folder), masks, statistics, and the report. */
export function ExportPanel() {
  const pruned = useLab((s) => s.masksKey !== null);
  const statistics = useLab((s) => s.tasks.calibrate.result !== null);
  const running = useRunning('export');
  const { exportFiles } = useLabActions();
  const lab = useContext(LabContext) as Lab;
  const download = async (request: ExportRequest) => {
    for (const f of (await exportFiles(request)) ?? []) saveFile(f.path, f.bytes as Uint8Array<ArrayBuffer>);
  };
  const toFolder = async () => {
    const picker = directoryPicker();
    if (!picker) return;
    let folder: FileSystemDirectoryHandle;
    try {
      folder = await picker({ mode: 'readwrite' });
    } catch {
      return; // the user closed the picker
    }
    // The engine writes into the folder as the export streams (never the whole model in memory).
    await exportFiles({ kind: 'model', zip: false, folder });
  };
  const report = () => {
    const state = lab.store.getState();
    saveFile('moe-lab-report.json', `${JSON.stringify(experimentReport(state, location.href), null, 2)}\n`, 'application/json');
  };
  const prune = useLab((s) => s.tasks.prune.result);
  return (
    <div className="subsection" role="region" aria-label="Export">
      <h3>Export the pruned model</h3>
      <div className="row">
        <button type="button" disabled={!pruned || running} onClick={() => void download({ kind: 'model', zip: true })}>
          Download model folder (.zip)
        </button>
        {directoryPicker() && (
          <button type="button" disabled={!pruned || running} onClick={() => void toFolder()}>
            Save model folder to disk…
          </button>
        )}
        <button type="button" disabled={!pruned || running} onClick={() => void download({ kind: 'masks', zip: false })}>
          Download masks
        </button>
        <button type="button" disabled={!statistics || running} onClick={() => void download({ kind: 'statistics', zip: false })}>
          Download statistics
        </button>
        <button type="button" onClick={report}>
          Download report (JSON)
        </button>
        <button type="button" disabled={!prune} onClick={() => prune && saveFile('sparsity.csv', sparsityCsv(prune), 'text/csv')}>
          Download sparsity (CSV)
        </button>
      </div>
      <p className="hint">
        The pruned model is a Hugging Face folder with the input's tensor names, layout and dtype, pruned weights set to zero, plus prune-report.json.
      </p>
      <TaskView task="export" label="Export" />
    </div>
  );
}
