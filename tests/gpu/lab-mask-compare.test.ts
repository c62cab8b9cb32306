/**
 * The page's mask comparison (LabService.compareMasks, src/lab/mask-compare.ts) on tests/fixtures/lab-tiny: Wanda's
 * masks in force against MoE-Pruner's equal compareMaskSets of the two pruned mask sets, the masks in force stay
 * untouched, the same method disagrees nowhere, and comparing before pruning is a bad request.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PruneRequest } from '../../src/api/lab.ts';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import { nodeLab } from '../../src/cli/node-lab.ts';
import { compareMaskSets } from '../../src/engine/prune/mask-compare.ts';
import { canonicalElements } from '../../src/engine/prune/layer-plan.ts';

const LAB_TINY = resolve('tests/fixtures/lab-tiny');
const request = (method: PruneRequest['method']): PruneRequest => ({
  calibration: { text: { kind: 'corpus', id: 'brown-heldout' }, samples: 4, seqLen: 32, seed: 3, mode: 'dense' },
  method,
  sparsity: 0.5,
  pattern: { kind: 'unstructured' },
  group: 'row',
  allocation: 'uniform',
  expertsDrop: 0,
  expertCriterion: 'frequency',
  targets: ['experts'],
});

describe('LabService.compareMasks', () => {
  it('compares the masks in force with another method without touching them', async () => {
    const lab = nodeLab('mask comparison test');
    try {
      const { spec } = await lab.loadFolder(await directoryFolder(LAB_TINY));
      await expect(lab.compareMasks({ other: request('wanda') })).rejects.toThrow(/Nothing is pruned yet/);
      await lab.prune(request('moe-pruner'));
      const moePruner = await lab.readMasks();
      await lab.prune(request('wanda'));
      const wanda = await lab.readMasks();
      const report = await lab.compareMasks({ other: request('moe-pruner') });
      expect(report.a).toBe('wanda');
      expect(report.b).toBe('moe-pruner');
      const shapes = { elements: (_: number, key: Parameters<typeof canonicalElements>[1]) => canonicalElements(spec, key), numExperts: spec.numExperts };
      expect(report.comparison).toEqual(compareMaskSets(wanda, moePruner, shapes));
      expect(report.comparison.overall.prunedA).toBe(report.comparison.overall.prunedB);
      expect(report.comparison.overall.disagreement).toBeGreaterThan(0);
      expect(report.comparison.experts).toHaveLength(spec.numExperts * spec.moeLayers.filter(Boolean).length);
      // The masks in force are still Wanda's, and a method agrees with itself everywhere.
      const after = await lab.readMasks();
      after.layers.forEach((layer, l) =>
        expect(Array.from(layer?.matrices['experts.down'] ?? [])).toEqual(Array.from(wanda.layers[l]?.matrices['experts.down'] ?? [])),
      );
      expect((await lab.compareMasks({ other: request('wanda') })).comparison.overall.disagreement).toBe(0);
    } finally {
      await lab.dispose();
    }
  });
});
