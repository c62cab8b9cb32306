/**
 * The acceptance test of distillation: masks survive it bit for bit. tests/fixtures/lab-tiny pruned by the pipeline
 * (`moe-lab prune`, MoE-Pruner 50%) is distilled toward itself dense; after every step every pruned weight is
 * exactly +0 with zero AdamW moments on the GPU, frozen weights are untouched, kept expert weights do move; the
 * written folder has the input's masks.safetensors byte for byte, zeros exactly where the masks prune, and the
 * mask its zeros imply is the input's. Also: a pruning that removed experts (students with E - r experts), and
 * pausing / resuming (within a session, and from a saved state) reproducing an uninterrupted run exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import { main } from '../../src/cli/main.ts';
import { sampleTrainingWindows } from '../../src/engine/distill/data.ts';
import { readFlatParameters } from '../../src/engine/distill/params.ts';
import { DEFAULT_DISTILL, type DistillSettings } from '../../src/engine/distill/settings.ts';
import { decodeDistillState, encodeDistillState } from '../../src/engine/distill/state.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { isKept } from '../../src/engine/model/masks.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { DistillSession } from '../../src/gpu/distill/session.ts';
import { tempDir } from '../helpers/safetensors-bytes.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';

const ROOT = join(import.meta.dirname, '../..');
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const TEXT = join(ROOT, 'public/data/brown/heldout.txt');
const temp = tempDir('moe-lab-distill-');
afterAll(() => temp.remove());

async function prune(out: string, extra: string[] = []): Promise<void> {
  const err: string[] = [];
  const code = await main(
    ['prune', '--model', LAB_TINY, '--method', 'moe-pruner', '--sparsity', '0.5', '--text', TEXT, '--samples', '8', '--seq-len', '64', '--out', out, ...extra],
    { out: () => {}, err: (t) => err.push(t) },
  );
  if (code !== 0) throw new Error(`prune failed: ${err.join('\n')}`);
}

let teacher: Checkpoint;
let windows: number[][];
const pruned = join(temp.dir, 'pruned');
const dropped = join(temp.dir, 'dropped');

beforeAll(async () => {
  await prune(pruned);
  await prune(dropped, ['--experts-drop', '2', '--expert-criterion', 'frequency']);
  teacher = await openCheckpoint(await directoryFolder(LAB_TINY));
  const tokens = loadTokenizer(teacher.tokenizerJson!, teacher.tokenizerConfig).encode(readFileSync(TEXT, 'utf8').slice(0, 20000), { addSpecialTokens: false });
  windows = sampleTrainingWindows(tokens, 8, 32, 1);
});

const settings = (patch: Partial<DistillSettings> = {}): DistillSettings => ({ ...DEFAULT_DISTILL, steps: 6, batch: 2, lr: 3e-3, logEvery: 1, ...patch });

async function session(
  studentDir: string,
  patch: Partial<DistillSettings> = {},
  resume: Awaited<ReturnType<DistillSession['state']>> | null = null,
): Promise<DistillSession> {
  const student = await openCheckpoint(await directoryFolder(studentDir));
  return DistillSession.create(await gpu(), { teacher, student, windows, settings: settings(patch), resume });
}

const bitsOf = (v: number) => new Uint32Array(Float32Array.of(v).buffer)[0];

describe('distillation keeps the masks', () => {
  it('every pruned weight is exactly 0 (moments too) after every step, and the written folder keeps the masks bit for bit', async () => {
    const ctx = await gpu();
    await withinErrorScopes(ctx, async () => {
      const s = await session(pruned);
      try {
        const { problem, prunedWeights, maskSource } = s.prepared;
        expect(maskSource).toBe('masks.safetensors');
        expect(prunedWeights).toBe(196608); // half of lab-tiny's expert weights
        const P = problem.layout.count;
        const initial = await s.distiller.getParameters();
        while (s.step < 6) {
          const next = s.step + 1;
          await s.run({ shouldStop: () => s.step >= next });
          const params = await s.distiller.getParameters();
          const moments = await s.distiller.getMoments();
          for (let i = 0; i < P; i++) {
            if (isKept(problem.kept, i)) continue;
            if (bitsOf(params[i]) !== 0 || bitsOf(moments[i]) !== 0 || bitsOf(moments[P + i]) !== 0)
              throw new Error(`step ${s.step}: pruned parameter ${i} is ${params[i]} (moments ${moments[i]}, ${moments[P + i]})`);
          }
        }
        expect(s.curves.step).toEqual([1, 2, 3, 4, 5, 6]);
        const final = await s.distiller.getParameters();
        let moved = 0;
        for (let i = 0; i < P; i++) {
          const trained = isKept(problem.update, i);
          if (!trained && bitsOf(final[i]) !== bitsOf(initial[i]) && isKept(problem.kept, i)) throw new Error(`frozen parameter ${i} changed`);
          if (trained && final[i] !== initial[i]) moved++;
        }
        expect(moved).toBeGreaterThan(0.9 * (problem.layout.layers.reduce((n, l) => n + l.w13.size + l.w2.size, 0) - prunedWeights));

        const out = await s.distilledModel('distilled');
        expect(out.nonzeroPruned).toBe(0);
        const input = new Map(['masks.safetensors', 'model.safetensors', 'config.json', 'tokenizer.json'].map((f) => [f, readFileSync(join(pruned, f))]));
        const files = new Map(out.files.map((f) => [f.path, f.bytes]));
        expect([...files.keys()].sort()).toEqual([
          'config.json',
          'masks.safetensors',
          'model.safetensors',
          'prune-report.json',
          'tokenizer.json',
          'tokenizer_config.json',
        ]);
        for (const f of ['masks.safetensors', 'config.json', 'tokenizer.json']) expect(Buffer.compare(Buffer.from(files.get(f)!), input.get(f)!), f).toBe(0);
        // The distilled weights read back from the written bytes: zeros exactly where pruned, and only there.
        const written = await readFlatParameters(out.checkpoint, problem.layout);
        for (let i = 0; i < P; i++) {
          const zero = bitsOf(written[i]) === 0;
          if (!isKept(problem.kept, i) && !zero) throw new Error(`written pruned parameter ${i} is ${written[i]}`);
          if (isKept(problem.update, i) && written[i] === 0) throw new Error(`kept parameter ${i} became 0: the zeros would no longer give the mask`);
        }
        // Bytes outside the expert tensors are the pruned input's.
        const header = 8 + Number(input.get('model.safetensors')!.readBigUInt64LE(0));
        expect(Buffer.compare(Buffer.from(files.get('model.safetensors')!.subarray(0, header)), input.get('model.safetensors')!.subarray(0, header))).toBe(0);
      } finally {
        s.destroy();
      }
    });
  });

  it('distills a student whose dropped experts were removed, against the teacher experts it kept', async () => {
    const ctx = await gpu();
    await withinErrorScopes(ctx, async () => {
      const s = await session(dropped, { steps: 3 });
      try {
        expect(s.input.student.spec.numExperts).toBe(6);
        expect(s.prepared.droppedExperts.every((d) => d.length === 2)).toBe(true);
        const { problem } = s.prepared;
        expect(problem.expertEnabled).toEqual([null, null]);
        // MoE-Pruner leaves kept weights as they were: student expert j's kept weights are those of the teacher expert
        // it came from, so the teacher was mapped onto the student's renumbered experts correctly.
        let compared = 0;
        for (const t of problem.layout.layers.flatMap((l) => [l.w13, l.w2])) {
          for (let i = t.offset; i < t.offset + t.size; i++) {
            if (!isKept(problem.kept, i)) continue;
            if (problem.student[i] !== problem.teacher[i])
              throw new Error(`kept expert weight ${i}: student ${problem.student[i]}, teacher ${problem.teacher[i]}`);
            compared++;
          }
        }
        expect(compared).toBeGreaterThan(100000);
        await s.run();
        const params = await s.distiller.getParameters();
        for (let i = 0; i < problem.layout.count; i++)
          if (!isKept(problem.kept, i) && bitsOf(params[i]) !== 0) throw new Error(`pruned parameter ${i} is ${params[i]}`);
        expect(s.lambdaMeasured!.expertLoss).toBeGreaterThan(0);
        expect((await s.distilledModel('d')).nonzeroPruned).toBe(0);
      } finally {
        s.destroy();
      }
    });
  });

  it('pausing, and resuming from a saved state, reproduce an uninterrupted run exactly', async () => {
    const ctx = await gpu();
    await withinErrorScopes(ctx, async () => {
      const straight = await session(pruned);
      await straight.run();
      const expected = await straight.distiller.getParameters();
      const expectedCurves = straight.curves;
      straight.destroy();

      const first = await session(pruned);
      await first.run({ shouldStop: () => first.step >= 3 });
      expect(first.step).toBe(3);
      const saved = await decodeDistillState('state', encodeDistillState(await first.state()));
      await first.run(); // pause / resume within a session
      expect(Array.from(await first.distiller.getParameters())).toEqual(Array.from(expected));
      expect(first.curves).toEqual(expectedCurves);
      first.destroy();

      const resumed = await session(pruned, {}, saved);
      expect(resumed.step).toBe(3);
      await resumed.run();
      expect(Array.from(await resumed.distiller.getParameters())).toEqual(Array.from(expected));
      expect(resumed.curves.total).toEqual(expectedCurves.total.slice(3));
      resumed.destroy();
    });
  });
});
