/**
 * What the engine keeps on the GPU: every buffer a GpuContext's device creates is counted when it is created and
 * uncounted when it is destroyed, so `resident` is the bytes held now (weights, masks, activations, statistics,
 * scratch, staging and uniform buffers alike) and `peak` the most held at once. Counting at the device, not at
 * the 40-odd places that allocate, means a new kernel host cannot forget to report its buffers.
 *
 * A budget (`--gpu-memory SIZE` in the CLI) makes an allocation that would go past it fail at once with a
 * GpuError('limits') naming the buffer, the budget and what is in use, instead of swapping or crashing the driver.
 */
import { formatBytes } from '../engine/format-bytes.ts';
import { GpuError } from './errors.ts';

export class GpuMemory {
  resident = 0;
  peak = 0;
  buffers = 0;

  /** The budget (null: none but the adapter's); the page sets it once the adapter is known (src/lab/page-gpu.ts). */
  constructor(public budget: number | null) {}

  /** Counts every buffer `device` creates from now on (wraps its createBuffer and each buffer's destroy). */
  track(device: GPUDevice): void {
    const create = device.createBuffer.bind(device);
    device.createBuffer = (descriptor: GPUBufferDescriptor): GPUBuffer => {
      const bytes = descriptor.size;
      this.check(descriptor.label ?? 'a buffer', bytes);
      const buffer = create(descriptor);
      this.add(bytes);
      const destroy = buffer.destroy.bind(buffer);
      let live = true;
      buffer.destroy = () => {
        if (live) this.add(-bytes);
        live = false;
        destroy();
      };
      return buffer;
    };
  }

  /** Throws GpuError('limits') when `bytes` more would go past the budget. */
  check(label: string, bytes: number): void {
    if (this.budget !== null && this.resident + bytes > this.budget) throw overBudget(label, bytes, this.resident, this.budget);
  }

  private add(bytes: number): void {
    this.resident += bytes;
    this.buffers += Math.sign(bytes);
    this.peak = Math.max(this.peak, this.resident);
    processPeak = Math.max(processPeak, this.resident);
  }
}

function overBudget(label: string, bytes: number, resident: number, budget: number): GpuError {
  return new GpuError(
    'limits',
    `${label} needs ${formatBytes(bytes)} more on the GPU, but the memory budget is ${formatBytes(budget)} and ${formatBytes(resident)} are in use ` +
      '(raise --gpu-memory, or ?gpumem= in the page address, or use a smaller batch, context or model).',
  );
}

let processBudget: number | null = null;
let processPeak = 0;

/** The budget of the GPU contexts this process creates from now on (null: none but the adapter's). The CLI's `--gpu-memory`. */
export function setGpuMemoryBudget(bytes: number | null): void {
  processBudget = bytes;
}

export function gpuMemoryBudget(): number | null {
  return processBudget;
}

let processLayers: { streamed: boolean; layersResident: number } | null = null;

/** Starts a new run's peak (the CLI, before each command). */
export function resetPeakGpuBytes(): void {
  processPeak = 0;
  processLayers = null;
}

/** A model's decoder layers on the GPU now (GpuModel): streamed or resident, counted into this run's most at once. */
export function noteLayersResident(streamed: boolean, layers: number): void {
  processLayers = { streamed: streamed || processLayers?.streamed === true, layersResident: Math.max(layers, processLayers?.layersResident ?? 0) };
}

/**
 * Whether this run streamed layers (docs/forward.md "Layer streaming") and the most decoder layers it held on the
 * GPU at once (the CLI's `streamed` and `layersResident`); null when no model went to the GPU.
 */
export function processLayerStreaming(): { streamed: boolean; layersResident: number } | null {
  return processLayers;
}

/** The most bytes a GPU context of this process held at once since the last reset (the CLI's `peakGpuBytes`). */
export function processPeakGpuBytes(): number {
  return processPeak;
}
