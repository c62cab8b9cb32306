/** Reference weights with a MaskSet applied: pruned elements zeroed, dropped experts disabled, forced experts set (for parity tests). */
import { applyMask, type MaskSet } from '../model/mask-set.ts';
import type { RefFfn, RefLayer, ReferenceWeights } from './weights.ts';

function maskFfn(ffn: RefFfn | null, gateUp?: Uint32Array, down?: Uint32Array): RefFfn | null {
  if (!ffn) return null;
  return { width: ffn.width, gateUp: gateUp ? applyMask(ffn.gateUp, gateUp) : ffn.gateUp, down: down ? applyMask(ffn.down, down) : ffn.down };
}

export function maskReferenceWeights(w: ReferenceWeights, masks: MaskSet): ReferenceWeights {
  const layers = w.layers.map((layer, l): RefLayer => {
    const m = masks.layers[l];
    if (!m) return layer;
    const x = m.matrices;
    const linear = <L extends RefLayer['q']>(lin: L, mask?: Uint32Array): L =>
      mask && lin ? ({ weight: applyMask(lin.weight, mask), bias: lin.bias } as L) : lin;
    return {
      ...layer,
      q: linear(layer.q, x['attn.q']),
      k: linear(layer.k, x['attn.k']),
      v: linear(layer.v, x['attn.v']),
      o: linear(layer.o, x['attn.o']),
      gateUp: layer.gateUp && x['experts.gate_up'] ? applyMask(layer.gateUp, x['experts.gate_up']) : layer.gateUp,
      down: layer.down && x['experts.down'] ? applyMask(layer.down, x['experts.down']) : layer.down,
      shared: maskFfn(layer.shared, x['shared.gate_up'], x['shared.down']),
      expertEnabled: m.expertEnabled ?? layer.expertEnabled,
      forcedExpert: m.forcedExpert ?? layer.forcedExpert,
    };
  });
  return { ...w, layers };
}
