/** Seeded random masks for export tests: about 40% of each matrix pruned, some experts disabled. */
import type { Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { allKeptMask, type MaskSet, type MatrixKey } from '../../src/engine/model/mask-set.ts';
import { canonicalElements } from '../../src/engine/prune/layer-plan.ts';
import { createRng } from '../../src/engine/random.ts';

/** Random masks (40% pruned) over `keys` of every MoE layer (null elsewhere), the experts in `dropped` (per layer) disabled. */
export function randomMaskSet(
  checkpoint: Checkpoint,
  keys: readonly MatrixKey[],
  dropped: ReadonlyMap<number, readonly number[]> = new Map(),
  seed = 17,
): MaskSet {
  const rng = createRng(seed);
  const { spec } = checkpoint;
  return {
    layers: spec.moeLayers.map((moe, l) => {
      if (!moe) return null;
      const matrices = Object.fromEntries(
        keys.map((key) => {
          const n = canonicalElements(spec, key);
          const mask = allKeptMask(n);
          for (let i = 0; i < n; i++) if (rng.next() < 0.4) mask[i >>> 5] &= ~(1 << (i & 31));
          return [key, mask];
        }),
      );
      const off = dropped.get(l) ?? [];
      return { matrices, ...(off.length ? { expertEnabled: Uint8Array.from({ length: spec.numExperts }, (_, e) => (off.includes(e) ? 0 : 1)) } : {}) };
    }),
  };
}
