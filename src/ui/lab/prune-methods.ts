import type { PruneMethod } from '../../engine/experiment/schema.ts';

/** The pruning methods the Prune panel and the sweep offer, with their labels (a module of its own: both panels import it). */
export const METHODS: { id: PruneMethod; label: string; needsStats: boolean }[] = [
  { id: 'moe-pruner', label: 'MoE-Pruner: |W| · √Σ(g·x)² (router-weighted)', needsStats: true },
  { id: 'wanda', label: 'Wanda: |W| · √Σx²', needsStats: true },
  { id: 'magnitude', label: 'Magnitude: |W|', needsStats: false },
  { id: 'sparsegpt', label: 'SparseGPT (updates the kept weights)', needsStats: true },
  { id: 'random', label: 'Random (seeded baseline)', needsStats: false },
];
