/**
 * Distillation's pure parts (src/engine/distill): which teacher / student pairs qualify (every family, same
 * network), each MoE layer's experts as f32 in the canonical layout and back into the family's own tensors
 * (per-expert and fused; unchanged values give the same bytes, bf16 re-encoding rounds), kept bits from masks or
 * zeros, masks of students whose dropped experts were removed, the f64 layer objective's gradient against central
 * finite differences, the seeded window order, the gap and schedule, the resumable state and the curves.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sampleTrainingWindows, WindowOrder } from '../../src/engine/distill/data.ts';
import { distilledFolderFiles, memoryFolder } from '../../src/engine/distill/export.ts';
import { keptExperts, layerKeptBits, studentRelativeMasks } from '../../src/engine/distill/student-masks.ts';
import { readExpertsF32 } from '../../src/engine/distill/problem.ts';
import { referenceLayerObjective } from '../../src/engine/reference/distill-layer.ts';
import { appendCurves, curvesSvg, emptyCurves } from '../../src/engine/distill/report.ts';
import { checkSameModel } from '../../src/engine/distill/scope.ts';
import { DEFAULT_DISTILL, distillSchedule, gapRecovered, validateDistillSettings } from '../../src/engine/distill/settings.ts';
import { decodeDistillState, encodeDistillState } from '../../src/engine/distill/state.ts';
import { ModelFileError } from '../../src/engine/errors.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import { isKept, type MaskSet } from '../../src/engine/model/mask-set.ts';
import { createRng } from '../../src/engine/random.ts';
import { learningRate } from '../../src/engine/train/schedule.ts';
import { centralDifference } from '../helpers/finite-differences.ts';
import { FIXTURES, fixtureDir, openFixture } from '../helpers/fixtures.ts';

describe('distillation scope', () => {
  it('accepts every family as its own teacher and refuses a student of another network', async () => {
    for (const name of FIXTURES) {
      const c = await openFixture(name);
      expect(() => checkSameModel(c.spec, c.spec, 'dense', 'pruned/config.json')).not.toThrow();
    }
    const qwen = (await openFixture('qwen3_moe')).spec;
    const olmoe = (await openFixture('olmoe')).spec;
    expect(() => checkSameModel(qwen, olmoe, 'dense', 'pruned/config.json')).toThrow(/pruned\/config.json: a olmoe model, but the teacher dense is qwen3_moe/);
    expect(() => checkSameModel(qwen, { ...qwen, hiddenSize: 32 }, 'dense', 'pruned/config.json')).toThrow(ModelFileError);
    expect(() => checkSameModel(qwen, { ...qwen, numExperts: 9 }, 'dense', 'pruned/config.json')).toThrow(/9 experts, more than the teacher's 8/);
  });
});

/** `checkpoint` with its safetensors files replaced by `files` (as the distilled folder writes them). */
async function reopened(files: { path: string; bytes: Uint8Array }[]): Promise<Checkpoint> {
  return openCheckpoint(memoryFolder('distilled', files));
}

describe("experts <-> the family's tensors", () => {
  it('writes unchanged experts back as the same bytes and changed ones where they are read, per-expert and fused', async () => {
    for (const name of ['qwen3_moe', 'granitemoe', 'olmoe'] as const) {
      const checkpoint = await openFixture(name);
      const { values, gateUpCount } = await readExpertsF32(checkpoint, 1);
      const original = (await checkpoint.folder.open('model.safetensors'))!;
      const originalBytes = await original.read(0, await original.size());
      const same = await distilledFolderFiles(checkpoint, new Map([[1, values]]));
      const model = same.find((f) => f.path === 'model.safetensors')!;
      expect(Buffer.compare(Buffer.from(model.bytes), Buffer.from(originalBytes)), name).toBe(0);
      expect(same.some((f) => f.path === 'config.json')).toBe(true);
      const changed = Float32Array.from(values);
      changed[77] = 0.125; // expert 0's gate_up
      changed[gateUpCount + 5 * 64 * 32 + 3] = -2; // expert 5's down (hidden 64, I 32)
      const back = await reopened(await distilledFolderFiles(checkpoint, new Map([[1, changed]])));
      expect(Array.from((await readExpertsF32(back, 1)).values)).toEqual(Array.from(changed));
      expect(Array.from((await readExpertsF32(back, 0)).values)).toEqual(Array.from((await readExpertsF32(checkpoint, 0)).values));
    }
  });

  it("writes gpt_oss's experts and biases back through its own tensors (x @ W, interleaved gate_up): same bytes when unchanged", async () => {
    const checkpoint = await openFixture('gpt_oss');
    const { values, layout } = await readExpertsF32(checkpoint, 1);
    expect(layout.count).toBe(layout.matrices + 8 * (2 * 32 + 64));
    const original = (await checkpoint.folder.open('model.safetensors'))!;
    const same = await distilledFolderFiles(checkpoint, new Map([[1, values]]));
    const bytes = same.find((f) => f.path === 'model.safetensors')!.bytes;
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(await original.read(0, await original.size())))).toBe(0);
    const changed = Float32Array.from(values);
    for (const i of [5, 32 * 64 + 7, layout.down + 999, layout.gateUpBias + 3, layout.gateUpBias + 32 + 3, layout.downBias + 64 * 7 + 63]) changed[i] = 0.375;
    const back = await reopened(await distilledFolderFiles(checkpoint, new Map([[1, changed]])));
    expect(Array.from((await readExpertsF32(back, 1)).values)).toEqual(Array.from(changed));
    expect(Array.from((await readExpertsF32(back, 0)).values)).toEqual(Array.from((await readExpertsF32(checkpoint, 0)).values));
  });

  it('re-encodes distilled experts in the stored dtype (bf16 here): unchanged values give the same bytes, zeros exact zeros', async () => {
    const config = JSON.parse(readFileSync(join(fixtureDir('mixtral'), 'config.json'), 'utf8')) as Record<string, unknown>;
    const checkpoint = await openCheckpoint(syntheticModelFolder(config, 'BF16', 7));
    const { values, dtype, gateUpCount } = await readExpertsF32(checkpoint, 0);
    expect(dtype).toBe('bf16');
    const source = (await checkpoint.folder.open('model.safetensors'))!;
    const same = await distilledFolderFiles(checkpoint, new Map([[0, values]]));
    expect(Buffer.compare(Buffer.from(same.find((f) => f.path === 'model.safetensors')!.bytes), Buffer.from(await source.read(0, await source.size())))).toBe(
      0,
    );
    const changed = Float32Array.from(values);
    changed[gateUpCount] = 0;
    changed[gateUpCount + 1] = 1 + 2 ** -10; // below bf16's resolution at 1: rounds to 1
    const back = (await readExpertsF32(await reopened(await distilledFolderFiles(checkpoint, new Map([[0, changed]]))), 0)).values;
    expect(Object.is(back[gateUpCount], 0)).toBe(true);
    expect(back[gateUpCount + 1]).toBe(1);
  });
});

describe("masks onto a layer's experts", () => {
  it('kept bits from a mask set (gate_up then down) and from zeros', async () => {
    const checkpoint = await openFixture('olmoe');
    const { values, gateUpCount } = await readExpertsF32(checkpoint, 0);
    const rng = createRng(4);
    const down = Uint32Array.from({ length: Math.ceil((values.length - gateUpCount) / 32) }, () => rng.nextU32());
    const masks: MaskSet = { layers: [{ matrices: { 'experts.down': down } }, null] };
    const kept = layerKeptBits(masks, 0, values, gateUpCount);
    for (let i = 0; i < 3000; i++) {
      expect(isKept(kept, i)).toBe(true); // gate_up has no mask: all kept
      expect(isKept(kept, gateUpCount + i)).toBe(isKept(down, i));
    }
    const zeros = Float32Array.from(values);
    zeros[5] = 0;
    const fromZeros = layerKeptBits(null, 0, zeros, gateUpCount);
    expect(isKept(fromZeros, 5)).toBe(false);
    expect(isKept(fromZeros, 6)).toBe(true);
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
    expect(Array.from(epoch0[1].ids.subarray(1, 7))).toEqual(Array.from(epoch0[1].ids.subarray(0, 6), (t) => t + 1)); // a window's first 7 tokens
    const again = new WindowOrder(windows, 3, 9);
    expect(Array.from(again.batchAt(5).ids)).toEqual(Array.from(order.batchAt(5).ids));
    expect(order.batchAt(3).epoch).toBe(1);
    expect(Array.from(new WindowOrder(windows, 3, 10).batchAt(0).ids)).not.toEqual(Array.from(epoch0[0].ids));
    expect(() => new WindowOrder(windows, 11, 0)).toThrow(/11 windows but there are 10/);
  });

  it('the gap, the schedule and settings checks', () => {
    expect(gapRecovered(10, 14, 12)).toBe(0.5);
    expect(gapRecovered(10, 10, 9)).toBeNull();
    const schedule = distillSchedule({ ...DEFAULT_DISTILL, steps: 100, lr: 1e-3 });
    expect(learningRate(schedule, 10)).toBeCloseTo(1e-3);
    expect(learningRate(schedule, 100)).toBeCloseTo(1e-4);
    expect(() => validateDistillSettings({ ...DEFAULT_DISTILL, steps: 0 })).toThrow(/steps must be a positive integer \(got 0\)/);
    expect(() => validateDistillSettings({ ...DEFAULT_DISTILL, lr: 2 })).toThrow(/lr must be in \(0, 1\) \(got 2\)/);
  });

  it('a state round-trips through its file, and a foreign file is refused', async () => {
    const curves = emptyCurves();
    appendCurves(curves, [{ step: 1, layer: 0, expertLoss: 0.5, gradNorm: 1, lr: 1e-3 }]);
    const state = {
      layerIndex: 1,
      step: 7,
      settings: { ...DEFAULT_DISTILL, steps: 9 },
      experts: new Map([
        [0, Float32Array.from([1, -0, 3])],
        [2, Float32Array.from([4, 5, 6])],
      ]),
      moments: Float32Array.from([1, 2, 3, 4, 5, 6]),
      curves,
      layers: [{ layer: 0, steps: 9, mse_before: 1, mse_after: 0.5, seconds: 2 }],
    };
    const back = await decodeDistillState('s', encodeDistillState(state));
    expect(back.layerIndex).toBe(1);
    expect(back.step).toBe(7);
    expect(back.settings).toEqual(state.settings);
    expect(back.curves).toEqual(curves);
    expect(back.layers).toEqual(state.layers);
    expect([...back.experts.keys()]).toEqual([0, 2]);
    expect(Object.is(back.experts.get(0)![1], -0)).toBe(true);
    expect(Array.from(back.moments)).toEqual([1, 2, 3, 4, 5, 6]);
    const foreign = encodeDistillState(state);
    foreign.set(new TextEncoder().encode('moe-lab-distill-state/1'), new TextDecoder().decode(foreign).indexOf('moe-lab-distill-state/2'));
    await expect(decodeDistillState('x.safetensors', foreign)).rejects.toThrow(/x.safetensors: not a moe-lab distillation state of this version/);
  });

  it('curves grow per logged step and render as SVG, one line per layer', () => {
    const curves = emptyCurves();
    appendCurves(
      curves,
      [1, 2, 3, 4].map((step) => ({ step, layer: step <= 2 ? 0 : 3, expertLoss: 1 / step, gradNorm: 1, lr: 1e-3 })),
    );
    expect(curves.step).toEqual([1, 2, 3, 4]);
    expect(curves.layer).toEqual([0, 0, 3, 3]);
    const svg = curvesSvg(curves, 'a <b>');
    expect(svg).toMatch(/^<svg /);
    expect(svg).toContain('a &lt;b&gt;');
    expect(svg.match(/<path /g)!.length).toBe(2);
    expect(svg).toContain('layer 3');
  });
});

describe('the layer objective (f64 reference)', () => {
  it('its gradient matches central finite differences at entries of gate, up and down', () => {
    const rng = createRng(8);
    const [E, H, I, T] = [3, 5, 4, 7];
    const P = 3 * E * I * H;
    const teacher = Float64Array.from({ length: P }, () => rng.normal() / 2);
    const student = Float64Array.from(teacher, (v) => v + 0.2 * rng.normal());
    const x = Float64Array.from({ length: T * H }, () => rng.normal());
    const routing = { tokens: [[0, 2, 3], [], [1, 2, 4, 5, 6]] };
    const { grad, mse, loss } = referenceLayerObjective(student, teacher, x, routing, { E, H, I });
    expect(mse[1]).toBe(0);
    expect(loss).toBeCloseTo(mse[0] + mse[2], 12);
    const at = [0, 7, I * H + 3, 2 * 2 * I * H + 11, 2 * E * I * H, 2 * E * I * H + 2 * H * I + 9, 2 * I * H + 1];
    for (const i of at) {
      const fd = centralDifference((w) => referenceLayerObjective(w, teacher, x, routing, { E, H, I }).loss, student, i);
      expect(grad[i], `weight ${i}`).toBeCloseTo(fd, 7);
    }
    // Expert 1 got no rows: no gradient.
    expect(grad.slice(2 * I * H, 4 * I * H).every((v) => v === 0)).toBe(true);
  });
});
