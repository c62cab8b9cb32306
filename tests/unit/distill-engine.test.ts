/**
 * Distillation's pure parts (src/engine/distill): scope (Mixtral only, with the missing pieces named), the
 * checkpoint <-> flat parameters mapping (grouped-query heads repeated, writing back unchanged values gives the same
 * bytes), masks onto flat bitsets (from a mask set or from zeros, kept experts of a student whose dropped experts
 * were removed), the seeded window order, lambda and the gap, the resumable state and the report's curves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleTrainingWindows, WindowOrder } from '../../src/engine/distill/data.ts';
import { keptBits, keptExperts, studentRelativeMasks, updateBits } from '../../src/engine/distill/masks.ts';
import { isTrained, placements, readFlatParameters, writeTrainedPlacements } from '../../src/engine/distill/params.ts';
import { expertsInLayout } from '../../src/engine/distill/problem.ts';
import { appendCurves, curvesSvg, emptyCurves } from '../../src/engine/distill/report.ts';
import { checkDistillable, missingForTraining, trainConfigOf } from '../../src/engine/distill/scope.ts';
import { DEFAULT_DISTILL, distillSchedule, gapRecovered, initialLambda, validateDistillSettings } from '../../src/engine/distill/settings.ts';
import { decodeDistillState, encodeDistillState } from '../../src/engine/distill/state.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { openCheckpoint, readTensorF32 } from '../../src/engine/model/checkpoint.ts';
import { syntheticModelFolder } from '../../src/engine/reference/synthetic.ts';
import { denseMask, isKept, type MaskSet } from '../../src/engine/model/masks.ts';
import { createRng } from '../../src/engine/random.ts';
import { paramLayout } from '../../src/engine/train/config.ts';
import { learningRate } from '../../src/engine/train/schedule.ts';
import { FIXTURES, fixtureDir, openFixture } from '../helpers/fixtures.ts';

describe('distillation scope', () => {
  it('accepts Mixtral (grouped-query attention only with frozen attention) and names what other families lack', async () => {
    const mixtral = (await openFixture('mixtral')).spec;
    expect(missingForTraining(mixtral, 'experts')).toEqual([]);
    expect(missingForTraining(mixtral, 'all')).toEqual(['training grouped-query attention (2 key/value heads for 4; use --train experts)']);
    const expected: Record<string, RegExp> = {
      qwen2_moe: /qwen2_moe family.*shared experts/,
      qwen3_moe: /qwen3_moe family.*q\/k normalization/,
      olmoe: /olmoe family.*q\/k normalization/,
      granitemoe: /granitemoe family.*topk-softmax routing rule/,
      phimoe: /phimoe family.*LayerNorm.*sparsemixer/,
    };
    for (const name of FIXTURES.filter((f) => f !== 'mixtral')) {
      const spec = (await openFixture(name)).spec;
      const error = (() => {
        try {
          checkDistillable(spec, `${name}/config.json`, 'experts');
        } catch (e) {
          return e as ModelFileError;
        }
        return null;
      })();
      expect(error, name).toBeInstanceOf(ModelFileError);
      expect(error!.message, name).toMatch(new RegExp(`^${name}/config.json: distillation needs the Mixtral architecture; the training kernels lack `));
      expect(error!.message, name).toMatch(expected[name]);
      expect(error!.message.includes('\n')).toBe(false);
    }
  });
});

describe('checkpoint <-> flat parameters', () => {
  it('reads every weight of the Mixtral fixture into the training layout, repeating key/value heads', async () => {
    const checkpoint = await openFixture('mixtral');
    const { spec, names } = checkpoint;
    const layout = paramLayout(trainConfigOf(spec, 16));
    const values = await readFlatParameters(checkpoint, layout);
    const all = placements(checkpoint, layout);
    // Every flat element is covered exactly once.
    const covered = new Uint8Array(layout.count);
    for (const p of all) for (let i = p.flatOffset; i < p.flatOffset + p.count; i++) covered[i]++;
    expect(covered.every((c) => c === 1)).toBe(true);
    const { hiddenSize: H, headDim: D } = spec;
    const k = await readTensorF32(checkpoint, names.layers[1].k.weight); // [2 D, H]
    const qkv = layout.layers[1].qkv.offset;
    for (let h = 0; h < spec.numHeads; h++) {
      const kvHead = Math.floor(h / 2);
      expect(Array.from(values.subarray(qkv + H * H + h * D * H, qkv + H * H + (h + 1) * D * H))).toEqual(
        Array.from(k.subarray(kvHead * D * H, (kvHead + 1) * D * H)),
      );
    }
    const w2 = await readTensorF32(checkpoint, names.layers[0].experts!.layout === 'per-expert' ? names.layers[0].experts!.down[3] : '');
    const down = layout.layers[0].w2;
    expect(Array.from(values.subarray(down.offset + 3 * H * spec.expertFfnSize, down.offset + 4 * H * spec.expertFfnSize))).toEqual(Array.from(w2));
    // Repeated heads are never written back; experts always are, the rest only when training everything.
    expect(all.filter((p) => p.repeated).length).toBe(2 * spec.numLayers * (spec.numHeads - spec.numKvHeads));
    expect(all.filter((p) => isTrained(p, 'experts')).every((p) => p.expert)).toBe(true);
  });

  it('writes unchanged values back as the same bytes, and changed expert values where they belong', async () => {
    const checkpoint = await openFixture('mixtral');
    const layout = paramLayout(trainConfigOf(checkpoint.spec, 16));
    const values = await readFlatParameters(checkpoint, layout);
    const all = placements(checkpoint, layout);
    const source = (await checkpoint.folder.open('model.safetensors'))!;
    const original = (await source.read(0, await source.size())).slice();
    const copy = original.slice();
    expect(writeTrainedPlacements(copy, source.name, all, values, 'experts')).toBe(layout.layers.reduce((n, l) => n + l.w13.size + l.w2.size, 0));
    expect(Buffer.compare(Buffer.from(copy), Buffer.from(original))).toBe(0);
    const changed = new Float32Array(values);
    const at = layout.layers[1].w13.offset + 77;
    changed[at] = 0.125;
    changed[layout.embed.offset] = 99; // not trained with 'experts': never written
    writeTrainedPlacements(copy, source.name, all, changed, 'experts');
    const reopened = await readFlatParameters(
      {
        ...checkpoint,
        tensors: new Map(
          [...checkpoint.tensors].map(([n, t]) => [
            n,
            { ...t, source: { name: source.name, size: async () => copy.length, read: async (o: number, l: number) => copy.subarray(o, o + l) } },
          ]),
        ),
      },
      layout,
    );
    expect(reopened[at]).toBe(0.125);
    expect(reopened[layout.embed.offset]).toBe(values[layout.embed.offset]);
  });

  it('re-encodes trained values in the stored dtype (bf16 here): unchanged values give the same bytes, pruned zeros exact zeros', async () => {
    const config = JSON.parse(readFileSync(join(fixtureDir('mixtral'), 'config.json'), 'utf8')) as Record<string, unknown>;
    const checkpoint = await openCheckpoint(syntheticModelFolder(config, 'BF16', 7));
    const layout = paramLayout(trainConfigOf(checkpoint.spec, 16));
    const values = await readFlatParameters(checkpoint, layout);
    const all = placements(checkpoint, layout);
    const source = (await checkpoint.folder.open('model.safetensors'))!;
    const original = (await source.read(0, await source.size())).slice();
    const copy = original.slice();
    writeTrainedPlacements(copy, source.name, all, values, 'all');
    expect(Buffer.compare(Buffer.from(copy), Buffer.from(original))).toBe(0);
    const w2 = layout.layers[0].w2.offset;
    const changed = new Float32Array(values);
    changed[w2] = 0;
    changed[w2 + 1] = 1 + 2 ** -10; // below bf16's resolution at 1: rounds to 1
    writeTrainedPlacements(copy, source.name, all, changed, 'experts');
    const back = await readFlatParameters(
      {
        ...checkpoint,
        tensors: new Map(
          [...checkpoint.tensors].map(([n, t]) => [
            n,
            { ...t, source: { name: source.name, size: async () => copy.length, read: async (o: number, l: number) => copy.subarray(o, o + l) } },
          ]),
        ),
      },
      layout,
    );
    expect(Object.is(back[w2], 0)).toBe(true);
    expect(back[w2 + 1]).toBe(1);
  });
});

describe('masks onto the flat parameters', () => {
  it('kept bits from a mask set, from zeros, and update bits per trainable mode', async () => {
    const checkpoint = await openFixture('mixtral');
    const { spec } = checkpoint;
    const layout = paramLayout(trainConfigOf(spec, 16));
    const values = await readFlatParameters(checkpoint, layout);
    const all = placements(checkpoint, layout);
    const rng = createRng(4);
    const gateUp = Uint32Array.from({ length: Math.ceil((spec.numExperts * 2 * spec.expertFfnSize * spec.hiddenSize) / 32) }, () => rng.nextU32());
    const k = denseMask(spec.numKvHeads * spec.headDim * spec.hiddenSize);
    k[3] = 0; // kv-head 0 elements 96..127: pruned in both query heads that read it
    const masks: MaskSet = { layers: [{ matrices: { 'experts.gate_up': gateUp, 'attn.k': k } }, null] };
    const kept = keptBits(layout, all, masks, values);
    const w13 = layout.layers[0].w13.offset;
    for (let i = 0; i < 2000; i++) expect(isKept(kept, w13 + i)).toBe(isKept(gateUp, i));
    const H = spec.hiddenSize;
    const kFlat = layout.layers[0].qkv.offset + H * H;
    const D = spec.headDim;
    for (const head of [0, 1]) for (let i = 96; i < 128; i++) expect(isKept(kept, kFlat + head * D * H + i)).toBe(false);
    expect(isKept(kept, kFlat + 2 * D * H + 100)).toBe(true); // head 2 reads kv-head 1
    expect(isKept(kept, layout.layers[1].w13.offset)).toBe(true); // layer 1 has no masks
    // From zeros: only prunable matrices (the embedding's zeros would not count).
    const zeros = new Float32Array(values);
    zeros[layout.layers[1].w2.offset + 5] = 0;
    zeros[layout.embed.offset + 5] = 0;
    const fromZeros = keptBits(layout, all, null, zeros);
    expect(isKept(fromZeros, layout.layers[1].w2.offset + 5)).toBe(false);
    expect(isKept(fromZeros, layout.embed.offset + 5)).toBe(true);
    const experts = updateBits(layout, all, kept, 'experts');
    expect(isKept(experts, w13 + 0)).toBe(isKept(gateUp, 0));
    expect(isKept(experts, layout.embed.offset)).toBe(false);
    expect(isKept(experts, layout.layers[0].router.offset)).toBe(false);
    const everything = updateBits(layout, all, kept, 'all');
    expect(isKept(everything, layout.layers[0].router.offset)).toBe(true);
    expect(isKept(everything, kFlat + 100)).toBe(false); // pruned
    expect(isKept(everything, kFlat + D * H + 5)).toBe(false); // a repeated head is never trained
  });

  it('maps masks and teacher experts onto a student whose dropped experts were removed', () => {
    const spec = { numExperts: 4, expertFfnSize: 2, hiddenSize: 3 } as Parameters<typeof studentRelativeMasks>[2];
    const n = 2 * 2 * 3;
    const gateUp = new Uint32Array(Math.ceil((4 * n) / 32));
    for (let i = 0; i < 4 * n; i++) if (i % 3 === 0) gateUp[i >>> 5] |= 1 << (i & 31);
    const masks: MaskSet = { layers: [{ matrices: { 'experts.gate_up': gateUp }, expertEnabled: Uint8Array.from([1, 0, 1, 0]) }] };
    const kept = keptExperts(masks, 4, 1);
    expect(kept).toEqual([[0, 2]]);
    const student = studentRelativeMasks(masks, kept, spec);
    expect(student.layers[0]!.expertEnabled).toBeUndefined();
    const cut = student.layers[0]!.matrices['experts.gate_up']!;
    for (let i = 0; i < n; i++) {
      expect(isKept(cut, i)).toBe(isKept(gateUp, i));
      expect(isKept(cut, n + i)).toBe(isKept(gateUp, 2 * n + i));
    }
    expect(studentRelativeMasks(masks, [[0, 1, 2, 3]], spec)).toBe(masks);
    const config = {
      vocabSize: 8,
      hiddenSize: 4,
      numLayers: 1,
      numHeads: 2,
      numExperts: 4,
      topK: 2,
      expertFfnSize: 2,
      contextLength: 4,
      ropeTheta: 1e4,
      rmsNormEps: 1e-5,
      bosTokenId: 0,
      eosTokenId: 0,
    };
    const from = paramLayout(config);
    const to = paramLayout({ ...config, numExperts: 2 });
    const values = Float32Array.from({ length: from.count }, (_, i) => i);
    const moved = expertsInLayout(values, from, to, [[1, 3]]);
    const size = 2 * 2 * 4;
    expect(Array.from(moved.subarray(to.layers[0].w13.offset, to.layers[0].w13.offset + size))).toEqual(
      Array.from(values.subarray(from.layers[0].w13.offset + size, from.layers[0].w13.offset + 2 * size)),
    );
    expect(moved[to.layers[0].w2.offset + 8]).toBe(values[from.layers[0].w2.offset + 3 * 8]);
  });
});

describe('data order, settings and state', () => {
  it('draws windows of S + 1 tokens and visits them in a seeded order, a pure function of the step', () => {
    const tokens = Array.from({ length: 500 }, (_, i) => i);
    const windows = sampleTrainingWindows(tokens, 10, 7, 3);
    expect(windows.every((w) => w.length === 8 && w[7] === w[0] + 7)).toBe(true);
    const order = new WindowOrder(windows, 3, 9);
    expect(order.window).toBe(7);
    expect(order.batchesPerEpoch).toBe(3);
    const epoch0 = [0, 1, 2].map((s) => order.batchAt(s));
    const seen = new Set(epoch0.flatMap((b) => [0, 1, 2].map((w) => b.ids[w * 7])));
    expect(seen.size).toBe(9); // nine distinct windows in the epoch (one left out)
    expect(Array.from(epoch0[1].targets.subarray(0, 7))).toEqual(Array.from(epoch0[1].ids.subarray(0, 7), (t) => t + 1));
    const again = new WindowOrder(windows, 3, 9);
    expect(Array.from(again.batchAt(5).ids)).toEqual(Array.from(order.batchAt(5).ids));
    expect(order.batchAt(3).epoch).toBe(1);
    expect(Array.from(new WindowOrder(windows, 3, 10).batchAt(0).ids)).not.toEqual(Array.from(epoch0[0].ids));
    expect(() => new WindowOrder(windows, 11, 0)).toThrow(/11 windows but there are 10/);
  });

  it('lambda, the gap, the schedule and settings checks', () => {
    expect(initialLambda(6, 2)).toBe(3);
    expect(initialLambda(6, 0)).toBe(0);
    expect(gapRecovered(10, 14, 12)).toBe(0.5);
    expect(gapRecovered(10, 10, 9)).toBeNull();
    const schedule = distillSchedule({ ...DEFAULT_DISTILL, steps: 100, lr: 1e-3 });
    expect(learningRate(schedule, 10)).toBeCloseTo(1e-3);
    expect(learningRate(schedule, 100)).toBeCloseTo(1e-4);
    expect(() => validateDistillSettings({ ...DEFAULT_DISTILL, steps: 0 })).toThrow(/steps must be a positive integer \(got 0\)/);
    expect(() => validateDistillSettings({ ...DEFAULT_DISTILL, lambda: -1 })).toThrow(/lambda/);
  });

  it('a state round-trips through its file, and a foreign file is refused', async () => {
    const state = {
      step: 7,
      lambda: 2.5,
      settings: { ...DEFAULT_DISTILL, steps: 9 },
      params: Float32Array.from([1, -0, 3]),
      moments: Float32Array.from([1, 2, 3, 4, 5, 6]),
    };
    const back = await decodeDistillState('s', encodeDistillState(state));
    expect(back.step).toBe(7);
    expect(back.lambda).toBe(2.5);
    expect(back.settings).toEqual(state.settings);
    expect(Array.from(back.moments)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Object.is(back.params[1], -0)).toBe(true);
    await expect(decodeDistillState('x.safetensors', encodeDistillState({ ...state, moments: Float32Array.from([1]) }))).rejects.toThrow(
      /x.safetensors: moments has 1 values/,
    );
  });

  it('curves grow per logged step and render as SVG', () => {
    const curves = emptyCurves();
    appendCurves(
      curves,
      [1, 2, 3].map((step) => ({ step, crossEntropy: 5 - step / 10, expertLoss: 1 / step, loss: 5, gradNorm: 1, lr: 1e-3 })),
    );
    expect(curves.step).toEqual([1, 2, 3]);
    const svg = curvesSvg(curves, 2, 'a <b>');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('a &lt;b&gt;');
    expect(svg.match(/<path /g)!.length).toBe(3);
  });
});
