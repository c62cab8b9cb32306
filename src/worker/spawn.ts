/** Starts the engine worker in the browser and returns its client. Kept apart so Node tests never meet `new Worker`. */
import { WorkerEngineClient } from './client.ts';

export function spawnEngineWorker(assetBase: string, gpuMemory: number | null = null): WorkerEngineClient {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'moe-lab engine' });
  const client = new WorkerEngineClient(worker, { assetBase, gpuMemory });
  worker.addEventListener('error', (event) => {
    client.fail({ kind: 'internal', message: `The engine worker failed: ${event.message || 'it could not start (see the browser console)'}` });
  });
  worker.addEventListener('messageerror', () => {
    client.fail({ kind: 'internal', message: 'The engine worker sent a message the page could not read.' });
  });
  return client;
}
