/// <reference lib="webworker" />
/** The engine's Web Worker: hosts the in-thread LabService behind the message protocol (src/worker/protocol.ts). */
import { serveEngine } from './host.ts';
import { LabService } from '../lab/lab-service.ts';

serveEngine(self as unknown as DedicatedWorkerGlobalScope, (init) => new LabService({ assetBase: init.assetBase, gpuMemory: init.gpuMemory ?? null }));
