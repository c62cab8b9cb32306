import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createLabActions } from './state/actions.ts';
import { createLabStore, LabContext } from './state/store.ts';
import { syncExperimentWithUrl } from './state/url-sync.ts';
import { App } from './ui/App.tsx';
import { spawnEngineWorker } from './worker/spawn.ts';
import './ui/styles.css';

// The site root (where public/ is served), also when the app lives in a sub-folder (vite base './').
const assetBase = new URL('.', location.href).href;
const engine = spawnEngineWorker(assetBase);
const store = createLabStore();
const actions = createLabActions(store, engine);

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
