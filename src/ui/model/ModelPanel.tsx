import { isHidden } from '../../state/actions.ts';
import { useLab } from '../../state/store.ts';
import { EmbeddedPicker } from './EmbeddedPicker.tsx';
import { HubLoader } from './HubLoader.tsx';
import { LocalFiles } from './LocalFiles.tsx';
import { ModelSummaryView } from './ModelSummaryView.tsx';
import { ModelTaskView } from './ModelTaskView.tsx';

/** Where models come from, the load in progress, and the loaded model's summary. */
export function ModelPanel() {
  const summary = useLab((s) => s.model);
  const hideSources = useLab((s) => isHidden(s, 'model-source'));
  return (
    <section className="card" aria-labelledby="model-title">
      <h2 id="model-title">Model</h2>
      <ModelTaskView />
      {summary ? <ModelSummaryView summary={summary} /> : null}
      {!hideSources && (
        <div className="sources">
          <EmbeddedPicker />
          <LocalFiles />
          <HubLoader />
        </div>
      )}
    </section>
  );
}
