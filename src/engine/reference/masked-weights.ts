/** Reference weights with a MaskSet applied: pruned elements zeroed, dropped experts disabled, forced experts set (for parity tests). */
import { applyMask, type LayerMasks, type MaskSet } from '../model/mask-set.ts';
import type { RefFfn, RefLayer, RefMla, ReferenceWeights } from './weights.ts';

function maskFfn(ffn: RefFfn | null, gateUp?: Uint32Array, down?: Uint32Array): RefFfn | null {
  if (!ffn) return null;
  return { width: ffn.width, gateUp: gateUp ? applyMask(ffn.gateUp, gateUp) : ffn.gateUp, down: down ? applyMask(ffn.down, down) : ffn.down };
}

/** Multi-head latent attention's projections with the attn.q_a / q_b / kv_a / kv_b masks applied. */
function maskMla(mla: RefMla | null, x: LayerMasks['matrices']): RefMla | null {
  if (!mla) return null;
  const masked = (w: Float32Array, mask?: Uint32Array) => (mask ? applyMask(w, mask) : w);
  return {
    ...mla,
    qA: mla.qA && { weight: masked(mla.qA.weight, x['attn.q_a']), bias: mla.qA.bias },
    qB: mla.qB && masked(mla.qB, x['attn.q_b']),
    kvA: { weight: masked(mla.kvA.weight, x['attn.kv_a']), bias: mla.kvA.bias },
    kvB: masked(mla.kvB, x['attn.kv_b']),
  };
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
      mla: maskMla(layer.mla, x),
      gateUp: layer.gateUp && x['experts.gate_up'] ? applyMask(layer.gateUp, x['experts.gate_up']) : layer.gateUp,
      down: layer.down && x['experts.down'] ? applyMask(layer.down, x['experts.down']) : layer.down,
      shared: maskFfn(layer.shared, x['shared.gate_up'], x['shared.down']),
      expertEnabled: m.expertEnabled ?? layer.expertEnabled,
      forcedExpert: m.forcedExpert ?? layer.forcedExpert,
    };
  });
  return { ...w, layers };
}
