/**
 * Freshness keys come from one function (freshnessKey over the canonical request): every field of the experiment's
 * calibration, pruning and evaluation settings changes the keys that depend on it and no other, equal settings give
 * equal keys, and the lab service's statistics key follows the same rule. The list of mutations below must cover
 * every leaf of those sections: a setting added to the schema without one fails here first.
 */
import { describe, expect, it } from 'vitest';
import { freshnessKey } from '../../src/api/experiment-requests.ts';
import { decodeExperiment, encodeExperiment } from '../../src/engine/experiment/url.ts';
import { defaultExperiment, type Experiment } from '../../src/engine/experiment/schema.ts';
import { statisticsKey } from '../../src/lab/calibration.ts';
import { calibrationKey, calibrationRequest, evaluateKey, pruneKey } from '../../src/state/requests.ts';

type Section = 'calibration' | 'prune' | 'evaluation';

/** The steering settings' paths (src/engine/model/steering.ts). */
const STEERING = ['evaluation.disabledExperts', 'evaluation.forcedExperts'];

/** One change per setting: a path and a different valid value at it. */
const MUTATIONS: { path: string; section: Section; apply(e: Experiment): void }[] = [
  { path: 'calibration.text', section: 'calibration', apply: (e) => (e.calibration.text = { kind: 'corpus', id: 'tiny-shakespeare' }) },
  { path: 'calibration.text', section: 'calibration', apply: (e) => (e.calibration.text = { kind: 'pasted', hash: '0123456789abcdef' }) },
  { path: 'calibration.text', section: 'calibration', apply: (e) => (e.calibration.text = { kind: 'corpus', id: 'brown.news' }) },
  { path: 'calibration.samples', section: 'calibration', apply: (e) => (e.calibration.samples += 1) },
  { path: 'calibration.seqLen', section: 'calibration', apply: (e) => (e.calibration.seqLen += 1) },
  { path: 'calibration.seed', section: 'calibration', apply: (e) => (e.calibration.seed += 1) },
  { path: 'calibration.mode', section: 'calibration', apply: (e) => (e.calibration.mode = 'sequential') },
  { path: 'prune.method', section: 'prune', apply: (e) => (e.prune.method = 'wanda') },
  { path: 'prune.sparsity', section: 'prune', apply: (e) => (e.prune.sparsity = 0.6) },
  { path: 'prune.pattern', section: 'prune', apply: (e) => (e.prune.pattern = { kind: 'n:m', n: 2, m: 4 }) },
  { path: 'prune.group', section: 'prune', apply: (e) => (e.prune.group = 'matrix') },
  { path: 'prune.allocation', section: 'prune', apply: (e) => (e.prune.allocation = 'owl') },
  { path: 'prune.expertsDrop', section: 'prune', apply: (e) => (e.prune.expertsDrop = 2) },
  { path: 'prune.expertCriterion', section: 'prune', apply: (e) => (e.prune.expertCriterion = 'reap') },
  { path: 'prune.protect', section: 'prune', apply: (e) => (e.prune.protect = 'super-experts') },
  { path: 'prune.structure', section: 'prune', apply: (e) => (e.prune.structure = 'neurons') },
  { path: 'prune.targets', section: 'prune', apply: (e) => (e.prune.targets = ['experts', 'attention']) },
  { path: 'prune.sparseGpt.blockSize', section: 'prune', apply: (e) => (e.prune.sparseGpt.blockSize = 64) },
  { path: 'prune.sparseGpt.damp', section: 'prune', apply: (e) => (e.prune.sparseGpt.damp = 0.02) },
  { path: 'evaluation.text', section: 'evaluation', apply: (e) => (e.evaluation.text = { kind: 'corpus', id: 'tiny-shakespeare' }) },
  { path: 'evaluation.ctx', section: 'evaluation', apply: (e) => (e.evaluation.ctx += 1) },
  { path: 'evaluation.maxTokens', section: 'evaluation', apply: (e) => (e.evaluation.maxTokens += 1) },
];

/** Leaf paths of a value (arrays are leaves). */
function leaves(value: unknown, path: string): string[] {
  if (value && typeof value === 'object' && !Array.isArray(value)) return Object.entries(value).flatMap(([k, v]) => leaves(v, `${path}.${k}`));
  return [path];
}

/** The page's keys of an experiment, with masks in force for the evaluation key (the pruned model is measured). */
function keys(e: Experiment, hash = 'h') {
  const masks = pruneKey(e, hash);
  return { calibration: calibrationKey(e, hash), prune: masks, evaluation: evaluateKey(e, hash, masks, true), dense: evaluateKey(e, hash, null, true) };
}

/** An experiment whose method is SparseGPT, so that its knobs act. */
function sparseGptExperiment(): Experiment {
  const e = defaultExperiment();
  e.prune.method = 'sparsegpt';
  return e;
}

describe('freshness keys', () => {
  it('have a mutation for every calibration, pruning and evaluation setting of the schema', () => {
    const e = defaultExperiment();
    const all = [...leaves(e.calibration, 'calibration'), ...leaves(e.prune, 'prune'), ...leaves(e.evaluation, 'evaluation')];
    // Steering only changes the steered generation (its own key, in the generate action): tested on its own below.
    const uncovered = all.filter((leaf) => !STEERING.includes(leaf) && !MUTATIONS.some((m) => leaf === m.path || leaf.startsWith(`${m.path}.`)));
    expect(uncovered).toEqual([]);
  });

  for (const mutation of MUTATIONS) {
    it(`${mutation.path}: a change changes the keys that depend on it, and no other`, () => {
      const base = sparseGptExperiment();
      if (mutation.path === 'prune.method') base.prune.method = 'moe-pruner';
      const changed = structuredClone(base);
      mutation.apply(changed);
      const before = keys(base);
      const after = keys(changed);
      // Calibration feeds pruning, and pruning the masks the pruned model is evaluated under.
      expect(after.calibration !== before.calibration).toBe(mutation.section === 'calibration');
      expect(after.prune !== before.prune).toBe(mutation.section !== 'evaluation');
      expect(after.evaluation).not.toBe(before.evaluation);
      expect(after.dense !== before.dense).toBe(mutation.section === 'evaluation');
    });
  }

  it('steering (experts switched off or forced) moves none of these keys: it acts on the steered generation only', () => {
    const base = defaultExperiment();
    const changed = structuredClone(base);
    changed.evaluation.disabledExperts = [{ layer: '*', expert: 1 }];
    expect(keys(changed)).toEqual(keys(base));
    changed.evaluation.forcedExperts = [{ layer: 0, expert: 2 }];
    expect(keys(changed)).toEqual(keys(base));
  });

  it("SparseGPT's knobs do not move the keys of another method (they do not act there)", () => {
    const base = defaultExperiment();
    const changed = structuredClone(base);
    changed.prune.sparseGpt = { blockSize: 32, damp: 0.5 };
    expect(keys(changed)).toEqual(keys(base));
  });

  it('the model changes every key; the view, hidden controls and the tour change none', () => {
    const e = sparseGptExperiment();
    const before = keys(e);
    const other = keys(e, 'other');
    for (const k of Object.keys(before) as (keyof typeof before)[]) expect(other[k]).not.toBe(before[k]);
    const viewed = structuredClone(e);
    Object.assign(viewed, { view: { panel: 'prune', layer: 3 }, hide: ['method'], tour: true });
    expect(keys(viewed)).toEqual(before);
  });

  it('equal settings give equal keys: a link read back, a text alias, objects built in another key order', () => {
    const e = sparseGptExperiment();
    e.calibration.samples = 8;
    expect(keys(decodeExperiment(encodeExperiment(e)).experiment)).toEqual(keys(e));
    const aliased = structuredClone(e);
    aliased.calibration.text = { kind: 'corpus', id: 'brown-heldout' };
    expect(keys(aliased)).toEqual(keys(e));
    expect(freshnessKey({ a: 1, b: { c: [2, 3], d: 'x' } })).toBe(freshnessKey({ b: { d: 'x', c: [2, 3] }, a: 1 }));
    expect(freshnessKey({ a: [1, 2] })).not.toBe(freshnessKey({ a: [2, 1] }));
  });

  it("the lab service's statistics key: equal with and without a pruning mode, different for every calibration setting", () => {
    const request = calibrationRequest(defaultExperiment());
    expect(statisticsKey({ ...request, mode: 'sequential' } as typeof request)).toBe(statisticsKey(request));
    for (const mutation of MUTATIONS.filter((m) => m.section === 'calibration' && m.path !== 'calibration.mode')) {
      const e = defaultExperiment();
      mutation.apply(e);
      expect(statisticsKey(calibrationRequest(e)), mutation.path).not.toBe(statisticsKey(request));
    }
  });
});
