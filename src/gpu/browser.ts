/** Browser entry to the GPU: navigator.gpu (also inside a Web Worker). */
import { GpuContext, type GpuContextOptions } from './context.ts';

export function browserGpu(): GPU | undefined {
  const nav = globalThis.navigator as (Navigator & { gpu?: GPU }) | undefined;
  return nav?.gpu;
}

export function createBrowserGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  return GpuContext.create(browserGpu(), options);
}
