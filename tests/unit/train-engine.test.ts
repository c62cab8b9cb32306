/** The pure parts of training: data order, schedule, embedding-gradient order, rope table, state files. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyRope } from '../../src/engine/reference/ops.ts';
import { paramLayout, TRAIN_MAX_EXPERTS, validateConfig } from '../../src/engine/train/config.ts';
import { DataOrder, evaluationWindows, positionsById } from '../../src/engine/train/data.ts';
import { initialParameters } from '../../src/engine/train/init.ts';
import {
  BROWN_MOE_3M_RECIPE,
  BROWN_QMOE128_3M_RECIPE,
  canResume,
  DEFAULT_RECIPE,
  recipeLearningRate,
  recipeSteps,
  recipeWithSteps,
  SHIPPED_RECIPES,
} from '../../src/engine/train/recipe.ts';
import { ropeTable } from '../../src/engine/train/rope-table.ts';
import { learningRate } from '../../src/engine/train/schedule.ts';
import { decodeTrainState, encodeTrainState } from '../../src/engine/train/state.ts';
import { expectClose } from '../helpers/tolerance.ts';

describe('data order', () => {
  const stream = Uint32Array.from({ length: 1000 }, (_, i) => i);
  const order = new DataOrder(stream, { window: 16, batch: 4, seed: 7 });

  it('visits every window of an epoch once, targets shifted by one token', () => {
    const starts = new Set<number>();
    for (let b = 0; b < order.batchesPerEpoch; b++) {
      const batch = order.batch(b);
      expect(batch.epoch).toBe(0);
      for (let w = 0; w < 4; w++) {
        const first = batch.ids[w * 16];
        expect(first % 16).toBe(0); // epoch 0 is not shifted
        starts.add(first);
        for (let s = 0; s < 16; s++) expect(batch.targets[w * 16 + s]).toBe(batch.ids[w * 16 + s] + 1);
      }
    }
    expect(starts.size).toBe(order.batchesPerEpoch * 4);
  });

  it('is a function of (seed, step): the same batch on a fresh order, another order on another seed or epoch', () => {
    const again = new DataOrder(stream, { window: 16, batch: 4, seed: 7 });
    expect(again.batch(5).ids).toEqual(order.batch(5).ids);
    expect(new DataOrder(stream, { window: 16, batch: 4, seed: 8 }).batch(5).ids).not.toEqual(order.batch(5).ids);
    const nextEpoch = order.batch(order.batchesPerEpoch);
    expect(nextEpoch.epoch).toBe(1);
    expect(nextEpoch.ids).not.toEqual(order.batch(0).ids);
  });

  it('refuses a stream shorter than one batch', () => {
    expect(() => new DataOrder(stream.subarray(0, 40), { window: 16, batch: 4, seed: 1 })).toThrow(/fewer than 4 windows/);
  });

  it('evaluation windows are consecutive and complete batches', () => {
    const batches = evaluationWindows(stream, 16, 4);
    expect(batches.length).toBe(Math.floor(Math.floor(999 / 16) / 4));
    expect(batches[1].ids[0]).toBe(64);
    expect(batches[1].targets[15]).toBe(80);
  });
});

describe('learning-rate schedule', () => {
  const s = { peak: 1e-3, floor: 1e-4, warmupSteps: 10, totalSteps: 110 };
  it('warms up linearly, decays by a cosine to the floor, then holds', () => {
    expect(learningRate(s, 1)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 12);
    expect(learningRate(s, 60)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(s, 110)).toBeCloseTo(1e-4, 12);
    expect(learningRate(s, 500)).toBe(1e-4);
    for (let t = 11; t < 110; t++) expect(learningRate(s, t + 1)).toBeLessThan(learningRate(s, t));
  });
});

describe('a recipe with a continuation', () => {
  const { continuation: _own, ...plain } = BROWN_QMOE128_3M_RECIPE;
  const continued = { ...plain, continuation: { peak: 1e-3, floor: 1e-5, warmupSteps: 10, totalSteps: 100 } };
  const end = recipeSteps(plain);
  it('runs its schedule, then the continuation counted from the schedule end', () => {
    expect(recipeSteps(continued)).toBe(end + 100);
    expect(recipeLearningRate(continued, 5)).toBe(recipeLearningRate(plain, 5));
    expect(recipeLearningRate(continued, end)).toBe(plain.schedule.floor);
    expect(recipeLearningRate(continued, end + 10)).toBeCloseTo(1e-3, 12);
    expect(recipeLearningRate(continued, end + 100)).toBeCloseTo(1e-5, 12);
  });

  it('takes over a state of the plain recipe up to the schedule end, and nothing else', () => {
    expect(canResume(plain, end, continued)).toBe(true);
    expect(canResume(plain, end + 1, continued)).toBe(false);
    expect(canResume(continued, end + 50, continued)).toBe(true);
    expect(canResume(continued, end, plain)).toBe(false);
    expect(canResume({ ...plain, seed: 1 }, 10, continued)).toBe(false);
    // brown-qmoe128-3m was trained this way: its schedule, then resumed into its continuation.
    expect(canResume(plain, recipeSteps(plain), BROWN_QMOE128_3M_RECIPE)).toBe(true);
  });
});

describe('a recipe cut short', () => {
  const { cutShort: _cut, ...planned } = BROWN_MOE_3M_RECIPE;
  const cut = { ...planned, cutShort: { fromStep: 700, totalSteps: 1500 } };
  it('follows the plan up to fromStep, then decays continuously and monotonically to the floor at the new end', () => {
    expect(recipeSteps(cut)).toBe(1500);
    for (const t of [1, 60, 400, 700]) expect(recipeLearningRate(cut, t)).toBe(recipeLearningRate(planned, t));
    expect(Math.abs(recipeLearningRate(cut, 701) - recipeLearningRate(cut, 700))).toBeLessThan(1e-5);
    for (let t = 700; t < 1500; t++) expect(recipeLearningRate(cut, t + 1)).toBeLessThan(recipeLearningRate(cut, t));
    expect(recipeLearningRate(cut, 1500)).toBe(planned.schedule.floor);
    expect(recipeLearningRate(cut, 1800)).toBe(planned.schedule.floor);
  });

  it('--steps N makes a plain N-step schedule of the recipe, whatever cut it had', () => {
    const short = recipeWithSteps(cut, 100);
    expect(recipeSteps(short)).toBe(100);
    expect(short.cutShort).toBeUndefined();
    expect(recipeLearningRate(short, 100)).toBe(planned.schedule.floor);
    expect(recipeLearningRate(short, 10)).toBe(recipeLearningRate(planned, 10));
  });

  it('takes over a state of the planned recipe up to fromStep, and nothing else', () => {
    expect(canResume(planned, 700, cut)).toBe(true);
    expect(canResume(planned, 701, cut)).toBe(false);
    expect(canResume(cut, 1200, cut)).toBe(true);
    expect(canResume(cut, 500, planned)).toBe(false);
    expect(canResume({ ...planned, seed: 1 }, 10, cut)).toBe(false);
  });
});

describe('embedding-gradient order', () => {
  it('sorts positions by id, stably, with prefix counts', () => {
    const { order, starts } = positionsById(Uint32Array.from([3, 1, 3, 0, 1, 3]), 5);
    expect([...starts]).toEqual([0, 1, 3, 3, 6, 6]);
    expect([...order]).toEqual([3, 1, 4, 0, 2, 5]);
    expect(() => positionsById(Uint32Array.from([5]), 5)).toThrow(/outside the vocabulary/);
  });
});

describe('rope table', () => {
  it('rotates like the reference applyRope', () => {
    const [S, D] = [7, 8];
    const table = ropeTable(S, D, 10000);
    const x = Float64Array.from({ length: S * D }, (_, i) => Math.sin(i + 1));
    const want = Float64Array.from(x);
    applyRope(
      want,
      S,
      1,
      D,
      Array.from({ length: S }, (_, t) => t),
      10000,
    );
    const got = new Float64Array(S * D);
    for (let t = 0; t < S; t++) {
      for (let i = 0; i < D / 2; i++) {
        const [c, s] = [table[((t * D) / 2) * 2 + i * 2], table[((t * D) / 2) * 2 + i * 2 + 1]];
        const [a, b] = [x[t * D + i], x[t * D + i + D / 2]];
        got[t * D + i] = a * c - b * s;
        got[t * D + i + D / 2] = b * c + a * s;
      }
    }
    expectClose(got, want, { atol: 1e-6, rtol: 1e-6, label: 'rope' });
  });
});

describe('parameters and state', () => {
  it('initial parameters are seeded: norms 1, matrices N(0, 0.02^2), output projections smaller', () => {
    const layout = paramLayout({ ...DEFAULT_RECIPE.model, vocabSize: 64, hiddenSize: 32, numHeads: 2, expertFfnSize: 48 });
    const a = initialParameters(layout, 5);
    const same = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => v === y[i]);
    expect(same(initialParameters(layout, 5), a)).toBe(true);
    expect(same(initialParameters(layout, 6), a)).toBe(false);
    const slice = (t: { offset: number; size: number }) => a.subarray(t.offset, t.offset + t.size);
    expect(slice(layout.finalNorm).every((v) => v === 1)).toBe(true);
    const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    expect(std(slice(layout.layers[0].w13))).toBeCloseTo(0.02, 2);
    expect(std(slice(layout.layers[0].w2))).toBeCloseTo(0.02 / Math.sqrt(2 * layout.config.numLayers), 2);
  });

  it('a training state round-trips through its safetensors bytes', async () => {
    const params = Float32Array.from({ length: 10 }, (_, i) => i / 3);
    const moments = Float32Array.from({ length: 20 }, (_, i) => -i);
    const bytes = encodeTrainState({ step: 42, recipe: DEFAULT_RECIPE, params, moments });
    const back = await decodeTrainState('state.safetensors', bytes);
    expect(back.step).toBe(42);
    expect(back.recipe).toEqual(DEFAULT_RECIPE);
    expect(back.params).toEqual(params);
    expect(back.moments).toEqual(moments);
    await expect(decodeTrainState('x.safetensors', bytes.slice(0, 40))).rejects.toThrow(/x\.safetensors/);
  });
});

describe('model config limits', () => {
  it("TRAIN_MAX_EXPERTS is the router kernel's MAX_EXPERTS, and one more expert is refused", () => {
    const shader = readFileSync(new URL('../../shaders/train/router.wgsl', import.meta.url), 'utf8');
    expect(shader).toContain(`const MAX_EXPERTS: u32 = ${TRAIN_MAX_EXPERTS}u;`);
    const model = DEFAULT_RECIPE.model;
    expect(() => validateConfig({ ...model, numExperts: TRAIN_MAX_EXPERTS })).not.toThrow();
    expect(() => validateConfig({ ...model, numExperts: TRAIN_MAX_EXPERTS + 1 })).toThrow(
      `numExperts <= ${TRAIN_MAX_EXPERTS} (got ${model.topK}, ${TRAIN_MAX_EXPERTS + 1})`,
    );
  });
});

describe('shipped recipes', () => {
  it("each is a shipped model of its shape whose card's Reproduce command names it", () => {
    expect(Object.keys(SHIPPED_RECIPES)).toContain(DEFAULT_RECIPE.id);
    for (const [id, recipe] of Object.entries(SHIPPED_RECIPES)) {
      expect(recipe.id).toBe(id);
      const folder = new URL(`../../public/models/${id}/`, import.meta.url);
      const config = JSON.parse(readFileSync(new URL('config.json', folder), 'utf8')) as { num_experts?: number; num_local_experts?: number };
      expect(config.num_experts ?? config.num_local_experts, id).toBe(recipe.model.numExperts);
      expect(readFileSync(new URL('README.md', folder), 'utf8')).toContain(`npm run train:default -- --recipe ${id}\n`);
    }
  });
});
