/**
 * The student's masks for distillation: which of its expert weights are pruned. The pruned folder's
 * masks.safetensors (src/engine/prune/masks-file.ts) is made for the dense teacher; studentRelativeMasks cuts it to
 * the experts the student kept. Without that file the zeros of the pruned weights are the mask — then a weight that
 * is exactly 0 in the dense model too counts as pruned, which is harmless (it stays 0, as it was). Either way the
 * masks are flattened onto each MoE layer's expert weights as one bitset `kept` (0 = pruned, held at +0; every kept
 * expert weight trains).
 */
import { isKept, maskWordCount, type MaskSet } from '../model/mask-set.ts';
import type { MoeModelSpec } from '../model/spec.ts';

const setBit = (bits: Uint32Array, i: number, on: boolean) => {
  if (on) bits[i >>> 5] |= 1 << (i & 31);
  else bits[i >>> 5] &= ~(1 << (i & 31));
};

/** Experts of each layer the student still has, as teacher expert ids in the student's order. */
export function keptExperts(masks: MaskSet | null, teacherExperts: number, layers: number): number[][] {
  return Array.from({ length: layers }, (_, l) => {
    const enabled = masks?.layers[l]?.expertEnabled;
    return [...Array(teacherExperts).keys()].filter((e) => !enabled || enabled[e]);
  });
}

/**
 * The teacher-relative masks (made for the dense model of `spec`) for a student that has only `kept[l]` experts per
 * layer (the pruning export removes dropped experts and renumbers the rest in order): expert masks cut to the kept
 * experts' slices, no expert dropped any more. Unchanged when nothing was removed.
 */
export function studentRelativeMasks(masks: MaskSet, kept: number[][], spec: MoeModelSpec): MaskSet {
  if (kept.every((k) => k.length === spec.numExperts)) return masks;
  const { expertFfnSize: I, hiddenSize: H } = spec;
  const perExpert = { 'experts.gate_up': 2 * I * H, 'experts.down': H * I } as const;
  return {
    layers: masks.layers.map((layer, l) => {
      if (!layer) return null;
      const matrices = { ...layer.matrices };
      for (const key of ['experts.gate_up', 'experts.down'] as const) {
        const words = layer.matrices[key];
        if (!words) continue;
        const n = perExpert[key];
        const cut = new Uint32Array(maskWordCount(kept[l].length * n));
        kept[l].forEach((e, j) => {
          for (let i = 0; i < n; i++) if (isKept(words, e * n + i)) setBit(cut, j * n + i, true);
        });
        matrices[key] = cut;
      }
      return { matrices };
    }),
  };
}

/**
 * kept [ceil(P_l / 32)] over MoE layer l's expert parameters, gate_up [E, 2I, H] then down [E, H, I] (then gpt_oss's
 * biases, from `matrices` on: never pruned): 0 for pruned weights — those the masks prune, or with `masks` null
 * those exactly 0 in `values`.
 */
export function layerKeptBits(masks: MaskSet | null, layer: number, values: Float32Array, gateUpCount: number, matrices = values.length): Uint32Array {
  const bits = new Uint32Array(maskWordCount(values.length)).fill(0xffffffff);
  const words = masks?.layers[layer]?.matrices;
  for (let i = 0; i < matrices; i++) {
    const down = i >= gateUpCount;
    const mask = masks ? words?.[down ? 'experts.down' : 'experts.gate_up'] : undefined;
    const kept = masks ? !mask || isKept(mask, down ? i - gateUpCount : i) : values[i] !== 0;
    if (!kept) setBit(bits, i, false);
  }
  return bits;
}

/** Number of pruned (kept = 0) parameters among the first `count`. */
export function countPruned(kept: Uint32Array, count: number): number {
  let pruned = 0;
  for (let i = 0; i < count; i++) if (!isKept(kept, i)) pruned++;
  return pruned;
}
