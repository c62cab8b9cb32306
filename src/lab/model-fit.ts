/**
 * Will a model fit this adapter? Decided from the spec alone (config.json), before any weight is downloaded.
 * WebGPU caps each storage binding (maxStorageBufferBindingSize: 128 MiB by default, often 1-4 GiB when asked
 * for the adapter's maximum, as src/gpu/context.ts does), so the largest single weight buffer of the canonical
 * layout (docs/forward.md: per layer, experts stacked as gate_up [E, 2I, H] and down [E, H, I]) decides.
 * WebGPU does not tell how much memory the GPU has in all, so the total is reported, not judged.
 */
import type { ModelFit } from '../api/engine.ts';
import { formatBytes } from '../engine/format-bytes.ts';
import type { GpuCapabilities } from '../api/gpu-capabilities.ts';
import type { MoeModelSpec, ParameterCounts, WeightDtype } from '../engine/model/spec.ts';

const ELEMENT_BYTES: Record<WeightDtype, number> = { f32: 4, f16: 2, bf16: 2 };

interface WeightBuffer {
  what: string;
  bytes: number;
}

/** The big weight buffers of one model in the canonical GPU layout, in stored dtype. */
export function largestWeightBuffers(spec: MoeModelSpec): WeightBuffer[] {
  const b = ELEMENT_BYTES[spec.dtype];
  const { vocabSize: V, hiddenSize: H, numExperts: E, expertFfnSize: I, headDim: D } = spec;
  const buffers: WeightBuffer[] = [
    { what: `the embedding [V=${V}, H=${H}]`, bytes: V * H * b },
    {
      what: `one attention layer's q/k/v projections [${(spec.numHeads + 2 * spec.numKvHeads) * D}, H=${H}]`,
      bytes: (spec.numHeads + 2 * spec.numKvHeads) * D * H * b,
    },
  ];
  if (spec.moeLayers.some(Boolean)) {
    buffers.push({ what: `one layer's experts gate_up [E=${E}, 2I=${2 * I}, H=${H}]`, bytes: E * 2 * I * H * b });
  }
  if (spec.moeLayers.some((moe) => !moe)) {
    buffers.push({ what: `one dense MLP's gate_up [${2 * spec.denseFfnSize}, H=${H}]`, bytes: 2 * spec.denseFfnSize * H * b });
  }
  if (spec.sharedExpert) {
    buffers.push({ what: `one shared expert's gate_up [${2 * spec.sharedExpert.ffnSize}, H=${H}]`, bytes: 2 * spec.sharedExpert.ffnSize * H * b });
  }
  return buffers.sort((x, y) => y.bytes - x.bytes);
}

export function modelFit(spec: MoeModelSpec, parameters: ParameterCounts, limits: GpuCapabilities['limits']): ModelFit {
  const [largest] = largestWeightBuffers(spec);
  const binding = limits.maxStorageBufferBindingSize;
  const problems: string[] = [];
  if (largest.bytes > binding) {
    problems.push(
      `${largest.what} needs ${formatBytes(largest.bytes)} in one buffer, but this adapter binds at most ` +
        `${formatBytes(binding)} (maxStorageBufferBindingSize): choose a smaller model or another GPU/browser.`,
    );
  }
  return {
    fits: problems.length === 0,
    largestBuffer: largest,
    limit: { name: 'maxStorageBufferBindingSize', bytes: binding },
    weightBytes: parameters.total * ELEMENT_BYTES[spec.dtype],
    problems,
  };
}
