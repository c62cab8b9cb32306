/**
 * The page's GPU: navigator.gpu in the worker, with a GPU memory budget (src/gpu/memory.ts) the CLI would get from
 * `--gpu-memory`. A model whose weights exceed it loads in streaming mode (docs/forward.md "Layer streaming").
 */
import type { GpuCapabilities } from '../api/gpu-capabilities.ts';
import { createBrowserGpuContext } from '../gpu/browser.ts';
import type { GpuContext } from '../gpu/context.ts';

/** The budget when the browser does not say how much memory the device has (Firefox and Safari hide navigator.deviceMemory). */
export const DEFAULT_PAGE_GPU_BUDGET = 2 * 2 ** 30;

/**
 * The page's GPU memory budget, bytes. WebGPU reports no memory size (on purpose: it would fingerprint the device),
 * so the budget is bounded by what the browser does tell:
 * - the adapter's `maxBufferSize`, the largest single buffer the driver grants (a device that grants it has at least
 *   that much memory; 2-4 GiB on desktop GPUs, 256 MiB to 1 GiB on phones);
 * - half of `navigator.deviceMemory` (the host's RAM in GiB, rounded down and capped at 8 by the browser) when it is
 *   given: integrated GPUs and software renderers take their memory from RAM, and the tab, the browser and the
 *   system need the rest; else DEFAULT_PAGE_GPU_BUDGET.
 * Conservative on a large discrete GPU (a model that would fit streams, slower but never out of memory); the URL's
 * `?gpumem=SIZE` overrides it (docs/ui.md, "Streaming mode").
 */
export function pageGpuBudget(limits: Pick<GpuCapabilities['limits'], 'maxBufferSize'>, deviceMemoryGiB: number | undefined): number {
  const host = deviceMemoryGiB && deviceMemoryGiB > 0 ? (deviceMemoryGiB * 2 ** 30) / 2 : DEFAULT_PAGE_GPU_BUDGET;
  return Math.floor(Math.min(limits.maxBufferSize, host));
}

/** Opens navigator.gpu with the page's budget: `override` (the `gpumem` URL parameter) or pageGpuBudget. */
export async function openPageGpu(override: number | null): Promise<GpuContext> {
  const ctx = await createBrowserGpuContext({ label: 'moe-lab engine' });
  const deviceMemory = (globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined)?.deviceMemory;
  ctx.memory.budget = override ?? pageGpuBudget(ctx.caps.limits, deviceMemory);
  return ctx;
}
