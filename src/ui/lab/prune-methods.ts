import type { PruneMethod } from '../../engine/experiment/schema.ts';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { scoresNeedStatistics } from '../../engine/prune/pipeline-settings.ts';

/**
 * The pruning methods the Prune panel and the sweep offer, with their labels: the vocabulary's `method` row
 * (src/engine/experiment/vocabulary.ts), in its order. A module of its own: both panels import it.
 */
export const METHODS: { id: PruneMethod; label: string; needsStats: boolean }[] = SETTINGS.method.values.map((id) => ({
  id,
  label: SETTINGS.method.options[id],
  needsStats: scoresNeedStatistics(id),
}));
