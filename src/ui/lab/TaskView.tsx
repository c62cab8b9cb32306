import type { TaskName } from '../../state/store.ts';
import { useLab, useLabActions } from '../../state/store.ts';
import { ProgressBar } from '../ProgressBar.tsx';

/**
 * A computation in progress (its message, a bar, Cancel) or the one-line error of the last run. The page stays
 * usable meanwhile: the work runs in the engine's worker.
 */
export function TaskView({ task, label }: { task: TaskName; label: string }) {
  const state = useLab((s) => s.tasks[task]);
  const { cancelTask } = useLabActions();
  if (state.running) {
    const progress = state.running.progress;
    return (
      <section className="task" aria-label={`${label} in progress`} aria-busy="true">
        <p className="task-message">{progress?.message ?? `${label}: waiting for the engine…`}</p>
        {progress && <ProgressBar label={label} done={progress.done} total={progress.total} unit={progress.unit} />}
        <button type="button" onClick={() => cancelTask(task)}>
          Cancel
        </button>
      </section>
    );
  }
  if (state.error) {
    return (
      <p className="error" role="alert">
        {state.error.message}
      </p>
    );
  }
  return null;
}

/** True while `task` runs. */
export function useRunning(task: TaskName): boolean {
  return useLab((s) => s.tasks[task].running !== null);
}
