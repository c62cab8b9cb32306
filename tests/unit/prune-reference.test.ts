/**
 * The CPU pruning reference against properties checked independently of its sort: exact counts per group,
 * every pruned score <= every kept score, ties pruned lowest index first (across matrices in request order for
 * layer groups), N:M counts per block; and the expert matrices of the fixtures with their layer groups.
 */
import { describe, expect, it } from 'vitest';
import { countKept, isKept } from '../../src/engine/model/keep-mask.ts';
import { expertMatrices } from '../../src/engine/prune/matrices.ts';
import { pruneMasksReference, scoreKeysReference, type ReferenceMatrix } from '../../src/engine/reference/prune/sorted-masks.ts';
import { columnFactors } from '../../src/engine/prune/scores.ts';
import { parsePattern, MASK_METHODS, UNSTRUCTURED, type PruneSettings } from '../../src/engine/prune/settings.ts';
import { createRng } from '../../src/engine/random.ts';
import { openFixture } from '../helpers/fixtures.ts';

function randomMatrix(label: string, rows: number, cols: number, seed: number, coarse = false): ReferenceMatrix {
  const rng = createRng(seed);
  const weights = Float32Array.from({ length: rows * cols }, () => (coarse ? rng.int(4) - 1.5 : rng.normal()));
  const statistic = Float32Array.from({ length: cols }, () => (rng.next() < 0.2 ? 0 : rng.next() * 3));
  return { label, rows, cols, weights, columnFactors: columnFactors(statistic, label) };
}

const base: PruneSettings = { method: 'wanda', pattern: UNSTRUCTURED, group: 'row', sparsity: 0.5, seed: 3 };

/** Checks that pruned keys <= kept keys within `positions`, and that equal keys are pruned in index order. */
function expectSortedSplit(keys: Uint32Array, mask: Uint32Array, positions: number[]): void {
  let maxPruned = -1;
  let minKept = Infinity;
  for (const p of positions) {
    if (isKept(mask, p)) minKept = Math.min(minKept, keys[p]);
    else maxPruned = Math.max(maxPruned, keys[p]);
  }
  expect(maxPruned).toBeLessThanOrEqual(minKept);
  if (maxPruned === minKept) {
    // At the boundary value, no kept position precedes a pruned one.
    const atBoundary = positions.filter((p) => keys[p] === maxPruned);
    const firstKept = atBoundary.findIndex((p) => isKept(mask, p));
    expect(atBoundary.slice(firstKept).every((p) => isKept(mask, p))).toBe(true);
  }
}

describe('pruning reference', () => {
  it('prunes exactly floor(cols * s) per row, lowest scores first, ties by lower column', () => {
    for (const method of MASK_METHODS) {
      for (const [m, sparsity] of [
        [randomMatrix('a', 9, 70, 1), 0.3],
        [randomMatrix('b', 6, 40, 2, true), 0.55],
      ] as const) {
        const settings = { ...base, method, sparsity };
        const [mask] = pruneMasksReference(settings, [m]).masks;
        const keys = scoreKeysReference(settings, m, 0);
        for (let r = 0; r < m.rows; r++) {
          const row = Array.from({ length: m.cols }, (_, c) => r * m.cols + c);
          expect(row.filter((p) => !isKept(mask, p)).length).toBe(Math.floor(m.cols * sparsity));
          expectSortedSplit(keys, mask, row);
        }
      }
    }
  });

  it('prunes the first k of an all-equal row', () => {
    const m: ReferenceMatrix = { label: 'flat', rows: 2, cols: 10, weights: new Float32Array(20).fill(0.5), columnFactors: null };
    const [mask] = pruneMasksReference({ ...base, method: 'magnitude', sparsity: 0.3 }, [m]).masks;
    expect(Array.from({ length: 20 }, (_, i) => (isKept(mask, i) ? 1 : 0))).toEqual([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1]);
  });

  it('compares a layer group across its matrices in request order, and matrix groups alone', () => {
    const flat = (label: string, layerGroup: number): ReferenceMatrix => ({
      label,
      rows: 2,
      cols: 4,
      weights: new Float32Array(8).fill(1),
      columnFactors: null,
      layerGroup,
    });
    const matrices = [flat('x', 7), flat('y', 9), flat('z', 7)];
    const layer = pruneMasksReference({ ...base, method: 'magnitude', group: 'layer', sparsity: 0.75 }, matrices);
    // Group 7 = x then z (16 weights, 12 pruned): all of x, then the first 4 of z; group 9 = y alone (6 of 8).
    expect(layer.masks.map((mask) => countKept(mask, 8))).toEqual([0, 2, 4]);
    expect(isKept(layer.masks[2], 3)).toBe(false);
    expect(isKept(layer.masks[2], 4)).toBe(true);
    const matrix = pruneMasksReference({ ...base, method: 'magnitude', group: 'matrix', sparsity: 0.75 }, matrices);
    expect(matrix.masks.map((mask) => countKept(mask, 8))).toEqual([2, 2, 2]);
  });

  it('keeps N of every M columns, pruning tied scores lowest index first', () => {
    const m = randomMatrix('nm', 5, 48, 4, true);
    for (const pattern of ['2:4', '4:8', '3:8', '5:16']) {
      const settings = { ...base, method: 'magnitude' as const, pattern: parsePattern(pattern) };
      const [mask] = pruneMasksReference(settings, [m]).masks;
      const keys = scoreKeysReference(settings, m, 0);
      const { n: keep, m: block } = settings.pattern as { n: number; m: number };
      for (let start = 0; start < m.rows * m.cols; start += block) {
        const positions = Array.from({ length: block }, (_, j) => start + j);
        expect(positions.filter((p) => isKept(mask, p)).length).toBe(keep);
        expectSortedSplit(keys, mask, positions);
      }
    }
  });

  it('reports when ties decided the boundary', () => {
    const ties = pruneMasksReference({ ...base, method: 'magnitude', sparsity: 0.5 }, [randomMatrix('coarse', 4, 16, 5, true)]);
    expect(ties.groups).toBe(4);
    expect(ties.boundaryTies).toBeGreaterThan(0);
    const none = pruneMasksReference({ ...base, method: 'random', sparsity: 0.5 }, [randomMatrix('coarse', 4, 16, 5, true)]);
    expect(none.boundaryTies).toBe(0);
  });

  it('refuses shapes it cannot prune, naming the matrix', () => {
    const m = randomMatrix('layers.1.experts.0.down', 3, 10, 6);
    expect(() => pruneMasksReference({ ...base, pattern: parsePattern('2:4') }, [m])).toThrow(
      /layers\.1\.experts\.0\.down: 10 columns are not a multiple of the N:M block 4/,
    );
    expect(() => pruneMasksReference(base, [{ ...m, columnFactors: null }])).toThrow(/wanda needs 10 column factors, got none/);
    expect(() => pruneMasksReference(base, [{ ...m, rows: 4 }])).toThrow(/30 weights for shape \[4, 10\]/);
  });
});

describe('expert matrices of a checkpoint', () => {
  it('lists per-expert and fused layouts in the canonical stacked order', async () => {
    const mixtral = await openFixture('mixtral');
    const { numExperts: E, expertFfnSize: I, hiddenSize: H } = mixtral.spec;
    const m = expertMatrices(mixtral.spec, mixtral.names);
    expect(m.length).toBe(mixtral.spec.numLayers * E * 3);
    expect(m.slice(0, 3).map((x) => x.label)).toEqual(['layers.0.experts.0.gate', 'layers.0.experts.0.up', 'layers.0.experts.1.gate']);
    expect(m[2 * E]).toMatchObject({ label: 'layers.0.experts.0.down', rows: H, cols: I, statistic: 'layers.0.experts.0.inter_sqnorm' });
    expect(m[0]).toMatchObject({ tensor: 'model.layers.0.block_sparse_moe.experts.0.w1.weight', elementOffset: 0, layerGroup: 0 });
    expect(m[3 * E]).toMatchObject({ label: 'layers.1.experts.0.gate', layerGroup: 2, gatedStatistic: 'layers.1.experts.0.input_sqnorm_gated' });

    const granite = await openFixture('granitemoe');
    const g = expertMatrices(granite.spec, granite.names);
    const gi = granite.spec.expertFfnSize * granite.spec.hiddenSize;
    expect(g[3]).toMatchObject({ label: 'layers.0.experts.1.up', elementOffset: 3 * gi, tensor: 'model.layers.0.block_sparse_moe.input_linear.weight' });
    expect(g[2 * granite.spec.numExperts + 1]).toMatchObject({ label: 'layers.0.experts.1.down', elementOffset: gi });
  });

  it('puts a shared expert in its own layer group', async () => {
    const qwen = await openFixture('qwen2_moe');
    const shared = expertMatrices(qwen.spec, qwen.names).filter((x) => x.expert === 'shared');
    expect(shared.map((x) => `${x.label} ${x.layerGroup}`)).toEqual([
      'layers.0.shared.gate 1',
      'layers.0.shared.up 1',
      'layers.0.shared.down 1',
      'layers.1.shared.gate 3',
      'layers.1.shared.up 3',
      'layers.1.shared.down 3',
    ]);
  });
});
