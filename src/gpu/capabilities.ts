/**
 * What the adapter offers, and what we ask the device for. We request the adapter's own maxima for the limits
 * that bound model size (one buffer, one storage binding, workgroup memory) and every optional feature we can
 * use, but never require a feature: kernels must run without `shader-f16` (an H100 through Dawn lacks it).
 */
import type { GpuCapabilities } from '../api/gpu-capabilities.ts';

/**
 * A setting whose best value differs between GPUs and CPU drivers (lavapipe, SwiftShader: `GpuCapabilities.isSoftware`),
 * as one table per setting: the kernel shapes measured in bench/README.md.
 */
export interface PerDevice<T> {
  gpu: T;
  software: T;
}

/** The value of `setting` on a device: `software` for a CPU driver. */
export function forDevice<T>(setting: PerDevice<T>, software: boolean): T {
  return software ? setting.software : setting.gpu;
}

/** Limits asked for at their adapter maximum. */
export const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export function requestedLimits(adapter: GPUAdapter): Record<string, number> {
  const limits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const value = (adapter.limits as unknown as Record<string, number>)[name];
    if (typeof value === 'number') limits[name] = value;
  }
  return limits;
}

export function requestedFeatures(adapter: GPUAdapter): GPUFeatureName[] {
  return OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
}

export function describeCapabilities(adapter: GPUAdapter, device: GPUDevice): GpuCapabilities {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${description}`.toLowerCase();
  const limits = device.limits;
  return {
    vendor,
    architecture,
    device: info?.device ?? '',
    description,
    isSoftware:
      /swiftshader|llvmpipe|lavapipe|software|warp/.test(text) || Boolean((adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter),
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    limits: {
      maxBufferSize: limits.maxBufferSize,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
      minStorageBufferOffsetAlignment: limits.minStorageBufferOffsetAlignment,
      minUniformBufferOffsetAlignment: limits.minUniformBufferOffsetAlignment,
    },
  };
}

/** One line for logs and the CLI: "google swiftshader (software) · f16 no · subgroups yes · max binding 1.0 GiB". */
export function summarizeCapabilities(caps: GpuCapabilities): string {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const name = [caps.vendor, caps.architecture, caps.description].filter(Boolean).join(' ') || 'unknown adapter';
  return (
    `${name}${caps.isSoftware ? ' (software)' : ''} · shader-f16 ${yes(caps.features.shaderF16)}` +
    ` · subgroups ${yes(caps.features.subgroups)} · timestamps ${yes(caps.features.timestampQuery)}` +
    ` · max binding ${(caps.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB`
  );
}
