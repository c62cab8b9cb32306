/**
 * Node entry to the GPU: Dawn from the npm package `webgpu`. Only the CLI, benchmarks and tests import this file;
 * the browser build never does. Which Vulkan driver Dawn uses follows VK_ICD_FILENAMES (SwiftShader, lavapipe,
 * or the system's GPU driver when unset).
 */
import { create, globals } from 'webgpu';
import { GpuContext, type GpuContextOptions } from './context.ts';

let instance: GPU | null = null;

/** The process-wide Dawn instance (creating several is wasteful and can exhaust driver resources). */
export function nodeGpu(): GPU {
  if (!instance) {
    Object.assign(globalThis, globals);
    instance = create([]) as GPU;
  }
  return instance;
}

/** A GpuContext on Dawn; throws GpuError('unavailable') with a hint when no Vulkan adapter is found. */
export async function createNodeGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  try {
    return await GpuContext.create(nodeGpu(), options);
  } catch (error) {
    if ((error as { kind?: string }).kind === 'unavailable') {
      (error as Error).message +=
        ' In Node, Dawn needs libvulkan1 and a Vulkan driver; without a GPU set ' +
        'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (Debian package chromium) or run ' +
        '`eval "$(scripts/lavapipe.sh)"`.';
    }
    throw error;
  }
}
