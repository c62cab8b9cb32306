/**
 * What the page is told about the GPU (the adapter's identity, the optional features it has, the limits that bound
 * model size). src/gpu/capabilities.ts fills it from the adapter; it lives here, in the API, because the page
 * (state, ui) shows it and must not import src/gpu.
 */
export interface GpuCapabilities {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** SwiftShader, lavapipe/llvmpipe or a WARP-like fallback: correct but slow; keep models tiny. */
  isSoftware: boolean;
  features: { shaderF16: boolean; subgroups: boolean; timestampQuery: boolean };
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
    minStorageBufferOffsetAlignment: number;
    minUniformBufferOffsetAlignment: number;
  };
}
