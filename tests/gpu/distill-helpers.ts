/**
 * Helpers of the distillation tests. Held-out data for random-weight fixtures: windows sampled from the dense model
 * itself (temperature 1, seeded), so that perplexity measures how close a model stays to the dense one — on uniform
 * random tokens a pruned random model can even score better than its dense model, and recovery means nothing.
 * One layer's problem (experts, kept bits, a routing laid out as the inference forward's tap leaves it) and the
 * LayerDistiller run on it that the step tests compare with the f64 reference.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import { readExpertsF32 } from '../../src/engine/distill/problem.ts';
import type { DistillReport } from '../../src/engine/distill/report.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { isKept } from '../../src/engine/model/mask-set.ts';
import { readMasksFile } from '../../src/engine/prune/masks-file.ts';
import { createRng } from '../../src/engine/random.ts';
import { runCliText as run } from '../helpers/cli.ts';
import type { GpuContext } from '../../src/gpu/context.ts';
import { LayerDistiller, type LayerShape } from '../../src/gpu/distill/distiller.ts';
import type { MoeLayerTap } from '../../src/gpu/model/taps.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { GpuForward } from '../../src/gpu/model/forward.ts';
import { GpuModel } from '../../src/gpu/model/gpu-model.ts';

/** `windows` windows of `length` tokens sampled autoregressively from `checkpoint` (first token uniform). */
export async function sampleFromModel(ctx: GpuContext, checkpoint: Checkpoint, windows: number, length: number, seed: number): Promise<number[][]> {
  const V = checkpoint.spec.vocabSize;
  const rng = createRng(seed);
  const ids = Array.from({ length: windows }, () => [rng.int(V), ...new Array<number>(length - 1).fill(0)]);
  const model = await GpuModel.upload(ctx, checkpoint);
  const forward = new GpuForward(model, windows, length);
  try {
    for (let pos = 1; pos < length; pos++) {
      const { logits } = await forward.run({ ids: ids.flat(), logits: true });
      for (let w = 0; w < windows; w++) {
        const row = logits!.subarray((w * length + pos - 1) * V, (w * length + pos) * V);
        const max = row.reduce((a, b) => Math.max(a, b), -Infinity);
        const p = Array.from(row, (v) => Math.exp(v - max));
        let u = rng.next() * p.reduce((a, b) => a + b, 0);
        let token = 0;
        while (token < V - 1 && (u -= p[token]) > 0) token++;
        ids[w][pos] = token;
      }
    }
  } finally {
    forward.destroy();
    model.destroy();
  }
  return ids;
}

/**
 * One layer's distillation problem: x [T, H], teacher experts [P] (N(0, 1/H)), random kept bits over the first
 * `prunable` parameters (the rest, biases, kept), the student = teacher with the pruned ones at 0 and a
 * perturbation; a routing of T tokens to K of E experts where expert 2 gets no token and some slots are empty,
 * rows grouped by expert in increasing t K + slot.
 */
export function layerProblem(seed: number, shape: { T: number; H: number; E: number; K: number }, P: number, prunable = P) {
  const { T, H, E, K } = shape;
  const rng = createRng(seed);
  const x = Float32Array.from({ length: T * H }, () => rng.normal());
  const teacher = Float32Array.from({ length: P }, () => rng.normal() / Math.sqrt(H));
  const kept = Uint32Array.from({ length: Math.ceil(P / 32) }, () => rng.nextU32());
  for (let i = prunable; i < P; i++) kept[i >>> 5] |= 1 << (i & 31);
  const isKept = (i: number) => ((kept[i >>> 5] >>> (i & 31)) & 1) === 1;
  const student = Float32Array.from(teacher, (v, i) => (isKept(i) ? v + 0.05 * rng.normal() : 0));
  const tokens: number[][] = Array.from({ length: E }, () => []);
  const assignments: [number, number][] = [];
  for (let t = 0; t < T; t++) {
    const chosen = new Set<number>();
    for (let k = 0; k < K; k++) {
      if (t % 7 === 3 && k === 1) continue;
      let e = rng.int(E);
      while (e === 2 || chosen.has(e)) e = (e + 1) % E;
      chosen.add(e);
      assignments.push([e, t * K + k]);
    }
  }
  assignments.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const offsets = new Uint32Array(E + 1);
  for (const [e, a] of assignments) {
    offsets[e + 1]++;
    tokens[e].push(Math.floor(a / K));
  }
  for (let e = 0; e < E; e++) offsets[e + 1] += offsets[e];
  const sortedRows = new Uint32Array(T * K).fill(0xffffffff);
  assignments.forEach(([, a], r) => (sortedRows[r] = a));
  return { x, teacher, student, kept, isKept, tokens, offsets, sortedRows };
}

const OPTIMIZER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxNorm: 1 };

/**
 * A LayerDistiller on `p`: the gradients and the evaluation of the first state, then 6 masked AdamW steps at lr 3e-3
 * (after each, how many pruned weights are not +0 with zero moments), the evaluation after them and the step logs.
 */
export async function runLayerDistiller(ctx: GpuContext, shape: LayerShape, p: ReturnType<typeof layerProblem>) {
  const { tokens: T, hidden: H, experts: E, topK: K, expertFfn: I } = shape;
  return withinErrorScopes(ctx, async () => {
    const input = await ctx.upload('x', p.x);
    const sortedRows = await ctx.upload('sorted rows', p.sortedRows);
    const expertOffsets = await ctx.upload('offsets', p.offsets);
    const d = LayerDistiller.create(ctx, shape, OPTIMIZER, p);
    const P = d.count;
    const tapOn = (recorder: ReturnType<typeof ctx.record>) =>
      ({ layer: 0, recorder, tokens: T, hidden: H, experts: E, topK: K, expertFfn: I, input, sortedRows, expertOffsets }) as unknown as MoeLayerTap;
    let rec = ctx.record();
    d.recordGradients(tapOn(rec));
    d.recordEvaluate(tapOn(rec));
    await rec.submit();
    const grads = await d.getGradients();
    const evaluation = await d.readEvaluation();
    const losses = [evaluation.loss];
    const prunedNonzero: number[] = [];
    for (let step = 0; step < 6; step++) {
      rec = ctx.record();
      d.recordStep(tapOn(rec), 3e-3);
      await rec.submit();
      const [w, m] = [await d.getParameters(), await d.getMoments()];
      let bad = 0;
      for (let i = 0; i < P; i++) if (!p.isKept(i) && (!Object.is(w[i], 0) || m[i] !== 0 || m[P + i] !== 0)) bad++;
      prunedNonzero.push(bad);
    }
    rec = ctx.record();
    d.recordEvaluate(tapOn(rec));
    await rec.submit();
    losses.push((await d.readEvaluation()).loss);
    const logs = await d.readLogs(0);
    d.destroy();
    for (const b of [input, sortedRows, expertOffsets]) b.destroy();
    return { grads, evaluation, losses, prunedNonzero, logs };
  });
}

/**
 * The acceptance run of `moe-lab distill` on the dense folder `dense`: 48 windows of 33 tokens sampled from it (32 to
 * train on, 16 held out), pruned 50% by MoE-Pruner, distilled 60 steps per layer at lr 1e-2 into `work`/`name`-distilled.
 * Checks what holds for every family: distilled < pruned > dense perplexity, over 5% of the gap recovered, and every
 * weight masks.safetensors prunes exactly 0 in the written files (read independently of the report). Returns the
 * report and the folders.
 */
export async function distillAcceptance(dense: string, work: string, name: string) {
  const checkpoint = await openCheckpoint(await directoryFolder(dense));
  const samples = await sampleFromModel(await gpu(), checkpoint, 48, 33, 1);
  const ids = join(work, `${name}-train.json`);
  const evalIds = join(work, `${name}-eval.json`);
  writeFileSync(ids, JSON.stringify(samples.slice(0, 32)));
  writeFileSync(evalIds, JSON.stringify(samples.slice(32).flat()));
  const prunedDir = join(work, `${name}-pruned`);
  const outDir = join(work, `${name}-distilled`);
  const prune = await run(['prune', '--model', dense, '--method', 'moe-pruner', '--sparsity', '0.5', '--ids', ids, '--out', prunedDir]);
  expect(prune.code, prune.err).toBe(0);
  const flags = ['--ids', ids, '--steps', '60', '--lr', '1e-2', '--eval-ids', evalIds, '--eval-ctx', '33', '--out', outDir, '--json'];
  const result = await run(['distill', '--teacher', dense, '--model', prunedDir, ...flags]);
  expect(result.code, result.err).toBe(0);
  const report = JSON.parse(readFileSync(join(outDir, 'distill-report.json'), 'utf8')) as DistillReport;
  expect(report.ppl_pruned!).toBeGreaterThan(report.ppl_dense!);
  expect(report.ppl_distilled!).toBeLessThan(report.ppl_pruned!);
  expect(report.gap_recovered!).toBeGreaterThan(0.05);
  expect(report.masks_preserved.nonzero_after).toBe(0);
  const written = await openCheckpoint(await directoryFolder(outDir));
  const masks = await readMasksFile((await written.folder.open('masks.safetensors'))!, checkpoint.spec);
  let prunedCount = 0;
  for (const [l, moe] of checkpoint.spec.moeLayers.entries()) {
    if (!moe) continue;
    const { values, gateUpCount, layout } = await readExpertsF32(written, l);
    const gateUp = masks.layers[l]!.matrices['experts.gate_up']!;
    const down = masks.layers[l]!.matrices['experts.down']!;
    for (let i = 0; i < layout.matrices; i++) {
      const kept = i < gateUpCount ? isKept(gateUp, i) : isKept(down, i - gateUpCount);
      if (kept) continue;
      prunedCount++;
      if (values[i] !== 0) throw new Error(`${name} layer ${l}: pruned expert weight ${i} is ${values[i]}`);
    }
  }
  expect(prunedCount).toBe(report.student.pruned_weights);
  return { report, prunedDir, outDir, evalIds, written };
}
