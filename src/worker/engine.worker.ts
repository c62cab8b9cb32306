/// <reference lib="webworker" />
/** The engine's Web Worker: hosts the in-thread LabEngine behind the message protocol (src/worker/protocol.ts). */
import { serveEngine } from './host.ts';
import { LabEngine } from './lab-engine.ts';

serveEngine(self as unknown as DedicatedWorkerGlobalScope, (init) => new LabEngine({ assetBase: init.assetBase }));
