/**
 * Typed GPU failures with messages a person can act on. Every error the GPU layer raises is a `GpuError`,
 * so callers (CLI, worker, page) can show `message` as it is and branch on `kind`.
 */
import { formatBytes } from '../engine/format-bytes.ts';

export type GpuErrorKind =
  | 'unavailable' // no WebGPU, or no adapter
  | 'device-lost' // the driver reset or the device was destroyed
  | 'out-of-memory' // an allocation the GPU could not satisfy
  | 'limits' // a buffer or dispatch beyond what the adapter allows
  | 'shader' // WGSL that failed to compile or a pipeline that failed to build
  | 'validation'; // any other WebGPU validation error (a bug in this program)

export class GpuError extends Error {
  override readonly name = 'GpuError';
  constructor(
    readonly kind: GpuErrorKind,
    message: string,
    readonly detail?: string,
  ) {
    super(message);
  }
}

export function unavailable(why: string): GpuError {
  return new GpuError(
    'unavailable',
    `WebGPU is not available: ${why}. Use a browser with WebGPU enabled (Chrome or Edge 113+, Safari 26+, ` +
      `Firefox 141+ on Windows), or in Node install a Vulkan driver (see README).`,
  );
}

export function deviceLost(reason: string, message: string): GpuError {
  return new GpuError(
    'device-lost',
    reason === 'destroyed'
      ? 'The GPU device was closed.'
      : `The GPU device was lost (${message || 'driver reset or the GPU ran out of time'}). ` +
          'Reload the model to continue; a smaller model or context length may help.',
    message,
  );
}

export function outOfMemory(what: string, bytes: number): GpuError {
  return new GpuError(
    'out-of-memory',
    `The GPU ran out of memory allocating ${what} (${formatBytes(bytes)}). ` +
      'Close other GPU-heavy tabs or programs, or use a smaller model, batch or context length.',
  );
}

export function beyondLimits(what: string, bytes: number, limit: number, limitName: string): GpuError {
  return new GpuError(
    'limits',
    `${what} needs ${formatBytes(bytes)} in one GPU buffer, but this adapter allows at most ` + `${formatBytes(limit)} (${limitName}).`,
  );
}
