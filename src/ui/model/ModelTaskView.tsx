import { useLab, useLabActions } from '../../state/store.ts';
import { ProgressBar } from '../ProgressBar.tsx';

/** The load in progress (overall and per-file bars, Cancel), or the one-line error of the last one. */
export function ModelTaskView() {
  const task = useLab((s) => s.modelTask);
  const hasModel = useLab((s) => s.model !== null);
  const { cancelModelTask } = useLabActions();
  if (task.status === 'idle') return null;
  if (task.status === 'error') {
    return (
      <div className="error-box">
        <p className="error-context">
          Could not load {task.label}
          {hasModel ? '; the model below is still loaded.' : '.'}
        </p>
        <p className="error" role="alert">
          {task.error.message}
        </p>
      </div>
    );
  }
  const progress = task.progress;
  return (
    <section className="task" aria-label={`Loading ${task.label}`} aria-busy="true">
      <p>{progress?.message ?? `Loading ${task.label}…`}</p>
      {progress && <ProgressBar label="Overall" done={progress.done} total={progress.total} unit={progress.unit} />}
      {progress?.files?.map((f) => (
        <ProgressBar key={f.file} label={f.cached ? `${f.file} (cached)` : f.file} done={f.loaded} total={f.total} unit="bytes" />
      ))}
      <button type="button" onClick={cancelModelTask}>
        Cancel
      </button>
    </section>
  );
}
