import { useEffect } from 'react';
import { isHidden } from '../state/actions.ts';
import { useLab } from '../state/store.ts';
import { GpuPanel } from './GpuPanel.tsx';
import { Header } from './Header.tsx';
import { CalibratePanel } from './lab/CalibratePanel.tsx';
import { EvaluatePanel } from './lab/EvaluatePanel.tsx';
import { BenchmarksPanel } from './lab/BenchmarksPanel.tsx';
import { GuidedTour } from './lab/GuidedTour.tsx';
import { InspectPanel } from './lab/InspectPanel.tsx';
import { PrunePanel } from './lab/PrunePanel.tsx';
import { RunExperiment } from './lab/RunExperiment.tsx';
import { ModelPanel } from './model/ModelPanel.tsx';
import { RecoverPanel } from './recover/RecoverPanel.tsx';
import { NotesArea } from './NotesArea.tsx';
import { NoWebGpu } from './NoWebGpu.tsx';
import { scrollToSection, SectionNav } from './SectionNav.tsx';

/** The lab's page: header, notes about the opened link, then the workflow: model, inspect, calibrate, prune, evaluate. */
export function App() {
  const gpu = useLab((s) => s.gpu);
  const hideGpu = useLab((s) => isHidden(s, 'gpu'));
  const hasModel = useLab((s) => s.model !== null);
  const linkedPanel = useLab((s) => s.experiment.view.panel);
  useEffect(() => {
    // A link that names a section opens there once the page has a model to show.
    if (hasModel && linkedPanel !== 'model') scrollToSection(linkedPanel);
    // Only when the model first arrives, not on every later navigation (linkedPanel left out on purpose).
  }, [hasModel]);
  return (
    <main>
      <Header />
      <NotesArea />
      {gpu.status === 'unavailable' ? (
        <NoWebGpu reason={gpu.reason} />
      ) : (
        <>
          <SectionNav />
          <RunExperiment />
          <div className={hideGpu ? 'layout' : 'layout with-side'} id="model">
            <ModelPanel />
            {!hideGpu && <GpuPanel />}
          </div>
          <InspectPanel />
          <CalibratePanel />
          <PrunePanel />
          <EvaluatePanel />
          <BenchmarksPanel />
          <RecoverPanel />
          <GuidedTour />
        </>
      )}
    </main>
  );
}
