import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createLabActions } from './state/actions.ts';
import { createLabStore, LabContext } from './state/store.ts';
import { syncExperimentWithUrl } from './state/url-sync.ts';
import { pageGpuMemory } from './state/page-gpu-memory.ts';
import { App } from './ui/App.tsx';
import { spawnEngineWorker } from './worker/spawn.ts';
import './ui/styles.css';

// The site root (where public/ is served), also when the app lives in a sub-folder (vite base './').
const assetBase = new URL('.', location.href).href;
const gpuMemory = pageGpuMemory(location.search);
const engine = spawnEngineWorker(assetBase, gpuMemory.bytes);
const store = createLabStore();
const actions = createLabActions(store, engine);
if (gpuMemory.problem) store.setState((s) => ({ notes: [...s.notes, { id: -1, topic: 'model', text: gpuMemory.problem! }] }));

actions.applyShareLink(location.hash);
syncExperimentWithUrl(store, actions, window);
void actions.start({ webGpuInPage: 'gpu' in navigator && Boolean((navigator as Navigator & { gpu?: unknown }).gpu) });

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <LabContext.Provider value={{ store, actions }}>
      <App />
    </LabContext.Provider>
  </StrictMode>,
);
