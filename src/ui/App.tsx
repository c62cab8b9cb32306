import { isHidden } from '../state/actions.ts';
import { useLab } from '../state/store.ts';
import { GpuPanel } from './GpuPanel.tsx';
import { Header } from './Header.tsx';
import { ModelPanel } from './model/ModelPanel.tsx';
import { NotesArea } from './NotesArea.tsx';
import { NoWebGpu } from './NoWebGpu.tsx';

/** The lab's page: header, notes about the opened link, then the model and the GPU it runs on. */
export function App() {
  const gpu = useLab((s) => s.gpu);
  const hideGpu = useLab((s) => isHidden(s, 'gpu'));
  return (
    <main>
      <Header />
      <NotesArea />
      {gpu.status === 'unavailable' ? (
        <NoWebGpu reason={gpu.reason} />
      ) : (
        <div className={hideGpu ? 'layout' : 'layout with-side'}>
          <ModelPanel />
          {!hideGpu && <GpuPanel />}
        </div>
      )}
    </main>
  );
}
