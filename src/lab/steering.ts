/**
 * Steering on the GPU (src/engine/model/steering.ts): the masks a variant runs with, plus experts switched off or
 * forced. The pruned variant's bitsets and updated weights are shared with the masks in force; only the [E]
 * expert-enabled vectors of the layers with switched-off experts are new buffers, owned by the returned set and freed
 * by `destroy` (a forced expert is a number the route kernel reads from its parameters).
 */
import { EngineError } from '../api/errors.ts';
import type { Variant } from '../api/lab.ts';
import { forcedByLayer, switchedOffByLayer, type ExpertSwitch } from '../engine/model/steering.ts';
import { GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import type { GpuModel } from '../gpu/model/gpu-model.ts';
import type { LabSession } from './lab-session.ts';

/** Masks for one computation: the set and whether this call owns it (then it must be destroyed). */
export interface SteeredMasks {
  masks: GpuMaskSet | null;
  destroy(): void;
}

/** Experts each layer's masks already drop (the pruned variant), [L]. */
function droppedByLayer(session: LabSession, variant: Variant): number[][] {
  const { spec } = session.loaded.summary;
  const dropped: number[][] = spec.moeLayers.map(() => []);
  if (variant === 'pruned') for (const layer of session.masks?.summary.layers ?? []) dropped[layer.layer] = layer.droppedExperts;
  return dropped;
}

/**
 * The GPU masks of `variant` (null: dense) with experts switched off (`switches`) and forced (`forced`) applied; a
 * bad switch is a bad request naming it.
 */
export async function steeredMasks(
  session: LabSession,
  model: GpuModel,
  variant: Variant,
  switches: readonly ExpertSwitch[] | undefined,
  forced: readonly ExpertSwitch[] | undefined = [],
): Promise<SteeredMasks> {
  if (variant === 'pruned' && !session.masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then compare.' });
  const base = variant === 'pruned' ? session.masks!.gpu : null;
  if (!switches?.length && !forced.length) return { masks: base, destroy: () => {} };
  const { spec } = model;
  const dropped = droppedByLayer(session, variant);
  let off: number[][];
  let force: (number | null)[];
  try {
    off = switchedOffByLayer(switches ?? [], spec);
    force = forcedByLayer(
      forced,
      spec,
      off.map((o, l) => [...o, ...dropped[l]]),
    );
  } catch (error) {
    throw new EngineError({ kind: 'bad-request', message: `Steering experts: ${(error as Error).message}.` });
  }
  // Over the pruned variant's set: its layers show through, and a streamed model's come up with its layers.
  const masks = GpuMaskSet.forModel(model, base);
  try {
    for (let l = 0; l < spec.numLayers; l++) {
      if (!off[l].length && force[l] === null) continue;
      let expertEnabled: Uint32Array | null = null;
      if (off[l].length) {
        expertEnabled = new Uint32Array(spec.numExperts).fill(1);
        for (const e of [...dropped[l], ...off[l]]) expertEnabled[e] = 0;
      }
      await masks.putHost(l, { matrices: {}, weights: {}, expertEnabled, ...(force[l] !== null ? { forcedExpert: force[l]! } : {}) });
    }
    return { masks, destroy: () => masks.destroy() };
  } catch (error) {
    masks.destroy();
    throw error;
  }
}
