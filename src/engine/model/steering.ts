/**
 * Steering: switching routed experts off for one computation, to watch what the model says without them
 * (`--disable-experts L:E[,L:E...]` on `moe-lab ppl`, `logits` and `generate`; the page's token view and its share
 * link). A switched-off expert leaves the routing exactly as a dropped expert does: its router logit counts as -inf,
 * so softmax and top-K run over the experts left (docs/forward.md, "Masks and dropped experts"). It rides on the mask
 * set's `expertEnabled` vector and combines with any pruning masks (an expert is enabled only when both say so).
 *
 * Forcing an expert (`--force-expert L:E[,L:E...]`, link key `force`) replaces the routing of a layer outright:
 * every token's top-K becomes {E} with gate 1 (the other K - 1 slots stay empty), whatever the router's logits, the
 * family's rule (softmax, sigmoid, groups, scaling factor) and the experts enabled; the router still runs, so its
 * logits are reported unchanged. It rides on the mask set's `forcedExpert`. At most one forced expert per layer, and
 * never one that is switched off or dropped in the same layer (both would be meaningless together).
 *
 * Text form (CLI flags and link values): comma-separated `L:E` pairs, L a layer index or `*` for every MoE layer,
 * E an expert index, e.g. `0:3,*:5`.
 */
import type { LayerMasks, MaskSet } from './mask-set.ts';
import type { MoeModelSpec } from './spec.ts';

/** One switched-off (or forced) expert: layer index (or '*': every MoE layer) and expert index. */
export interface ExpertSwitch {
  layer: number | '*';
  expert: number;
}

/** Parses `L:E[,L:E...]`; RangeError naming the bad pair. The empty string is no switch. */
export function parseExpertSwitches(text: string): ExpertSwitch[] {
  if (text.trim() === '') return [];
  return text.split(',').map((pair) => {
    const match = /^\s*(\*|\d+)\s*:\s*(\d+)\s*$/.exec(pair);
    if (!match) throw new RangeError(`'${pair}' is not LAYER:EXPERT (a layer index or *, then an expert index, e.g. 0:3 or *:3)`);
    return { layer: match[1] === '*' ? '*' : Number(match[1]), expert: Number(match[2]) };
  });
}

/** The text form of `switches` (parseExpertSwitches reads it back). */
export function formatExpertSwitches(switches: readonly ExpertSwitch[]): string {
  return switches.map((s) => `${s.layer}:${s.expert}`).join(',');
}

/** Checks every switch against the model; RangeError naming the first bad one. */
export function checkExpertSwitches(switches: readonly ExpertSwitch[], spec: MoeModelSpec): void {
  const moe = spec.moeLayers.flatMap((isMoe, l) => (isMoe ? [l] : []));
  for (const s of switches) {
    if (s.layer !== '*' && (!Number.isInteger(s.layer) || s.layer < 0 || s.layer >= spec.numLayers || !spec.moeLayers[s.layer])) {
      throw new RangeError(`${s.layer}:${s.expert}: layer ${s.layer} is not a MoE layer of this model (MoE layers ${moe.join(', ')})`);
    }
    if (!Number.isInteger(s.expert) || s.expert < 0 || s.expert >= spec.numExperts) {
      throw new RangeError(`${s.layer}:${s.expert}: expert ${s.expert} is out of range (this model has experts 0 to ${spec.numExperts - 1})`);
    }
  }
}

/** Per layer [L], the experts switched off (sorted, '*' expanded over the MoE layers). */
export function switchedOffByLayer(switches: readonly ExpertSwitch[], spec: MoeModelSpec): number[][] {
  checkExpertSwitches(switches, spec);
  const off = spec.moeLayers.map(() => new Set<number>());
  for (const s of switches) {
    for (let l = 0; l < spec.numLayers; l++) if (spec.moeLayers[l] && (s.layer === '*' || s.layer === l)) off[l].add(s.expert);
  }
  return off.map((set) => [...set].sort((a, b) => a - b));
}

/**
 * Per layer [L], the forced expert (null: the router decides), '*' expanded over the MoE layers. RangeError naming the
 * layer when two pairs force different experts there, or when the forced expert is in `unavailable[l]` (experts
 * switched off or dropped in that layer).
 */
export function forcedByLayer(forced: readonly ExpertSwitch[], spec: MoeModelSpec, unavailable: readonly (readonly number[])[] = []): (number | null)[] {
  checkExpertSwitches(forced, spec);
  const byLayer: (number | null)[] = spec.moeLayers.map(() => null);
  for (const s of forced) {
    for (let l = 0; l < spec.numLayers; l++) {
      if (!spec.moeLayers[l] || (s.layer !== '*' && s.layer !== l)) continue;
      const before = byLayer[l];
      if (before !== null && before !== s.expert) throw new RangeError(`layer ${l} is forced to both expert ${before} and expert ${s.expert} (one per layer)`);
      if (unavailable[l]?.includes(s.expert)) throw new RangeError(`${s.layer}:${s.expert}: expert ${s.expert} is switched off or dropped in layer ${l}`);
      byLayer[l] = s.expert;
    }
  }
  return byLayer;
}

/**
 * The mask set with steering applied: `base` (null: dense) with every switched-off expert's expertEnabled set to 0,
 * and each forced layer's `forcedExpert` set. Bitsets are shared with `base`, not copied.
 */
export function steerMaskSet(base: MaskSet | null, switches: readonly ExpertSwitch[], spec: MoeModelSpec, forced: readonly ExpertSwitch[] = []): MaskSet {
  const off = switchedOffByLayer(switches, spec);
  const dropped = spec.moeLayers.map((_, l) => {
    const enabled = base?.layers[l]?.expertEnabled;
    return [...off[l], ...(enabled ? [...enabled.keys()].filter((e) => !enabled[e]) : [])];
  });
  const force = forcedByLayer(forced, spec, dropped);
  const layers = spec.moeLayers.map((_, l): LayerMasks | null => {
    const layer = base?.layers[l] ?? null;
    if (!off[l].length && force[l] === null) return layer;
    const steered: LayerMasks = { ...(layer ?? { matrices: {} }) };
    if (off[l].length) {
      const enabled = layer?.expertEnabled ? Uint8Array.from(layer.expertEnabled) : new Uint8Array(spec.numExperts).fill(1);
      for (const e of off[l]) enabled[e] = 0;
      steered.expertEnabled = enabled;
    }
    if (force[l] !== null) steered.forcedExpert = force[l]!;
    return steered;
  });
  return { layers };
}
