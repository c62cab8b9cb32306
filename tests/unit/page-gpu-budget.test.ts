/**
 * The page's GPU memory budget (src/lab/page-gpu.ts) and its URL override (src/state/page-gpu-memory.ts): the
 * smaller of the adapter's largest buffer and half the host memory, 2 GiB of host memory assumed where the
 * browser hides it; `?gpumem=` read with the CLI's size parser, and a note for a value that is not a size; the
 * share link without it; the worker's init message with it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_GPU_BUDGET, pageGpuBudget } from '../../src/lab/page-gpu.ts';
import { pageGpuMemory, shareableUrl } from '../../src/state/page-gpu-memory.ts';
import { parseClientMessage } from '../../src/worker/protocol.ts';

const GiB = 2 ** 30;

describe('pageGpuBudget', () => {
  it('is bounded by the largest buffer and by half the device memory', () => {
    expect(pageGpuBudget({ maxBufferSize: 4 * GiB }, 8)).toBe(4 * GiB);
    expect(pageGpuBudget({ maxBufferSize: 4 * GiB }, 4)).toBe(2 * GiB);
    expect(pageGpuBudget({ maxBufferSize: 256 * 2 ** 20 }, 8)).toBe(256 * 2 ** 20);
    expect(pageGpuBudget({ maxBufferSize: 4 * GiB }, 0.5)).toBe(GiB / 4);
  });
  it('assumes DEFAULT_PAGE_GPU_BUDGET where the browser does not say', () => {
    expect(pageGpuBudget({ maxBufferSize: 16 * GiB }, undefined)).toBe(DEFAULT_PAGE_GPU_BUDGET);
  });
});

describe('pageGpuMemory', () => {
  it('reads ?gpumem= as --gpu-memory reads its size', () => {
    expect(pageGpuMemory('?gpumem=64MiB')).toEqual({ bytes: 64 * 2 ** 20, problem: null });
    expect(pageGpuMemory('?x=1&gpumem=1900000')).toEqual({ bytes: 1_900_000, problem: null });
    expect(pageGpuMemory('')).toEqual({ bytes: null, problem: null });
  });
  it('leaves a note naming a value that is not a size', () => {
    expect(pageGpuMemory('?gpumem=lots')).toEqual({
      bytes: null,
      problem: "The page's gpumem=lots is not a size such as 512MiB, 8GiB or a number of bytes; the GPU memory budget comes from the adapter.",
    });
  });
});

describe('shareableUrl', () => {
  it('drops gpumem and keeps the rest of the address and the experiment', () => {
    expect(shareableUrl('http://lab.test/app/?gpumem=64MiB#v=1&model=hub:org/m')).toBe('http://lab.test/app/#v=1&model=hub:org/m');
    expect(shareableUrl('http://lab.test/?a=1&gpumem=1GiB#v=1')).toBe('http://lab.test/?a=1#v=1');
    expect(shareableUrl('http://lab.test/#v=1&sparsity=0.5')).toBe('http://lab.test/#v=1&sparsity=0.5');
  });
});

describe('the worker init message', () => {
  it('carries the budget in bytes, or none; anything else is refused', () => {
    const init = (gpuMemory: unknown) => parseClientMessage({ type: 'init', init: { assetBase: 'http://lab.test/', gpuMemory } });
    expect(init(64 * 2 ** 20)).not.toBeNull();
    expect(init(null)).not.toBeNull();
    expect(init(undefined)).not.toBeNull();
    for (const bad of [-1, 0, 1.5, '64MiB']) expect(init(bad)).toBeNull();
  });
});
