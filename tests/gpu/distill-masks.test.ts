/**
 * Masks survive distillation bit for bit. tests/fixtures/lab-tiny pruned by the pipeline (`moe-lab prune`,
 * MoE-Pruner 50%) is distilled toward itself dense, layer by layer; after every step every pruned expert weight of
 * the layer under way is exactly +0 with zero AdamW moments on the GPU, kept expert weights do move; the
 * written folder has the input's masks.safetensors byte for byte, zeros exactly where the masks prune, and the
 * mask its zeros imply is the input's. Also: a pruning that removed experts (students with E - r experts), and
 * pausing / resuming (within a session, and from a saved state) reproducing an uninterrupted run exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { directoryFolder } from '../../src/cli/fs-folder.ts';
import { main } from '../../src/cli/main.ts';
import { sampleTrainingWindows } from '../../src/engine/distill/data.ts';
import { readExpertsF32 } from '../../src/engine/distill/problem.ts';
import { DEFAULT_DISTILL, type DistillSettings } from '../../src/engine/distill/settings.ts';
import { decodeDistillState, encodeDistillState } from '../../src/engine/distill/state.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { isKept } from '../../src/engine/model/mask-set.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { DistillSession } from '../../src/gpu/distill/session.ts';
import { gpu, withinErrorScopes } from './gpu-context.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

const ROOT = join(import.meta.dirname, '../..');
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const TEXT = join(ROOT, 'public/data/brown/heldout.txt');
const scratch = scratchDir('moe-lab-distill-');

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
const pruned = join(scratch, 'pruned');
const dropped = join(scratch, 'dropped');

beforeAll(async () => {
  await prune(pruned);
  await prune(dropped, ['--experts-drop', '2', '--expert-criterion', 'frequency']);
  teacher = await openCheckpoint(await directoryFolder(LAB_TINY));
  const tokens = loadTokenizer(teacher.tokenizerJson!, teacher.tokenizerConfig).encode(readFileSync(TEXT, 'utf8').slice(0, 20000), { addSpecialTokens: false });
  windows = sampleTrainingWindows(tokens, 8, 32, 1);
});

const settings = (patch: Partial<DistillSettings> = {}): DistillSettings => ({ ...DEFAULT_DISTILL, steps: 6, batch: 2, lr: 3e-3, logEvery: 2, ...patch });

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
        const { problem } = s;
        expect(problem.maskSource).toBe('masks.safetensors');
        expect(problem.prunedWeights).toBe(196608); // half of lab-tiny's expert weights
        expect(problem.layers.map((l) => l.layer)).toEqual([0, 1]);
        while (!s.finished) {
          const next = s.step + 1;
          await s.run({ shouldStop: () => s.step >= next });
          const d = s.current;
          if (!d) continue; // a layer just finished: its experts are checked in the written folder below
          const layer = problem.layers.find((l) => l.student.length === d.count && !s.experts.has(l.layer))!;
          const [params, moments] = [await d.getParameters(), await d.getMoments()];
          const P = d.count;
          for (let i = 0; i < P; i++) {
            if (isKept(layer.kept, i)) continue;
            if (bitsOf(params[i]) !== 0 || bitsOf(moments[i]) !== 0 || bitsOf(moments[P + i]) !== 0)
              throw new Error(`step ${s.step}: pruned expert weight ${i} of layer ${layer.layer} is ${params[i]} (moments ${moments[i]}, ${moments[P + i]})`);
          }
        }
        expect(s.curves.step).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
        for (const layer of problem.layers) {
          const final = s.experts.get(layer.layer)!;
          let moved = 0;
          for (let i = 0; i < final.length; i++) if (isKept(layer.kept, i) && final[i] !== layer.student[i]) moved++;
          expect(moved).toBeGreaterThan(0.9 * (final.length - layer.pruned));
        }

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
        // The distilled experts read back from the written bytes: zeros exactly where pruned, and only there.
        for (const layer of problem.layers) {
          const written = (await readExpertsF32(out.checkpoint, layer.layer)).values;
          for (let i = 0; i < written.length; i++) {
            const zero = bitsOf(written[i]) === 0;
            if (!isKept(layer.kept, i) && !zero) throw new Error(`written pruned expert weight ${i} is ${written[i]}`);
            if (isKept(layer.kept, i) && written[i] === 0) throw new Error(`kept expert weight ${i} became 0: the zeros would no longer give the mask`);
          }
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
        expect(s.problem.droppedExperts.every((d) => d.length === 2)).toBe(true);
        // MoE-Pruner leaves kept weights as they were: student expert j's kept weights are those of the teacher expert
        // it came from, so the teacher was mapped onto the student's renumbered experts correctly.
        let compared = 0;
        for (const layer of s.problem.layers) {
          for (let i = 0; i < layer.student.length; i++) {
            if (!isKept(layer.kept, i)) continue;
            if (layer.student[i] !== layer.teacher[i]) throw new Error(`kept expert weight ${i}: student ${layer.student[i]}, teacher ${layer.teacher[i]}`);
            compared++;
          }
        }
        expect(compared).toBeGreaterThan(100000);
        await s.run();
        expect(s.layers.every((l) => l.mse_before > 0 && l.mse_after! < l.mse_before)).toBe(true);
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
      const expected = straight.experts;
      const expectedCurves = straight.curves;
      straight.destroy();
      const same = (s: DistillSession) => {
        for (const [l, values] of expected) expect(Array.from(s.experts.get(l)!), `layer ${l}`).toEqual(Array.from(values));
        expect(s.curves).toEqual(expectedCurves);
      };

      const first = await session(pruned);
      await first.run({ shouldStop: () => first.step >= 8 }); // inside layer 1
      expect(first.step).toBe(8);
      const saved = await decodeDistillState('state', encodeDistillState(await first.state()));
      expect(saved.layerIndex).toBe(1);
      expect(saved.step).toBe(2);
      await first.run(); // pause / resume within a session
      same(first);
      first.destroy();

      const resumed = await session(pruned, {}, saved);
      expect(resumed.step).toBe(8);
      await resumed.run();
      same(resumed);
      resumed.destroy();
    });
  });
});
