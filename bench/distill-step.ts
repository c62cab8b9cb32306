/**
 * What a distillation step costs next to a plain training step on the same model and batch, JSON out: the
 * distillation step (forward with the teacher experts and the MSE, backward with its two gradient terms, masked
 * AdamW), its pieces (forward only; forward + backward; forward + backward with lambda 0, i.e. without the teacher
 * backward), and GpuTrainer's plain step (CE only, AdamW). Seeded random ids; each timing is the fastest of
 * --repeat interleaved rounds of --steps steps (a busy machine slows each alike).
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/distill-step.ts
 *      --teacher DENSE_DIR --model PRUNED_DIR [--seq-len 128] [--batch 4] [--steps 3] [--repeat 2] [--train experts|all]
 */
import { parseArgs } from 'node:util';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { prepareDistillation } from '../src/engine/distill/problem.ts';
import { openCheckpoint } from '../src/engine/model/checkpoint.ts';
import { createRng } from '../src/engine/random.ts';
import { summarizeCapabilities } from '../src/gpu/capabilities.ts';
import { GpuDistiller } from '../src/gpu/distill/distiller.ts';
import { createNodeGpuContext } from '../src/gpu/node.ts';
import { GpuTrainer } from '../src/gpu/train/trainer.ts';

const { values } = parseArgs({
  options: {
    teacher: { type: 'string' },
    model: { type: 'string' },
    'seq-len': { type: 'string', default: '128' },
    batch: { type: 'string', default: '4' },
    steps: { type: 'string', default: '3' },
    repeat: { type: 'string', default: '2' },
    train: { type: 'string', default: 'experts' },
  },
});
if (!values.teacher || !values.model) throw new Error('give --teacher DENSE_DIR --model PRUNED_DIR');
const S = Number(values['seq-len']);
const B = Number(values.batch);
const steps = Number(values.steps);
const teacher = await openCheckpoint(await directoryFolder(values.teacher));
const student = await openCheckpoint(await directoryFolder(values.model));
const prepared = await prepareDistillation(teacher, student, { window: S, trainable: values.train === 'all' ? 'all' : 'experts' });
const ctx = await createNodeGpuContext({ label: 'bench distill-step' });
const optimizer = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, maxNorm: 1 };
const distiller = await GpuDistiller.create(ctx, prepared.problem, B, optimizer);
distiller.lambda = 1;
const trainer = new GpuTrainer(ctx, prepared.problem.layout, B, 0, optimizer);
await trainer.setParameters(prepared.problem.student);
const rng = createRng(1);
const V = prepared.problem.layout.config.vocabSize;
const ids = Uint32Array.from({ length: B * S }, () => rng.int(V));
const targets = Uint32Array.from({ length: B * S }, () => rng.int(V));

const cases: Record<string, () => Promise<unknown>> = {
  distill_step: () => distiller.trainStep(ids, targets, 1e-5),
  distill_forward: () => distiller.evaluateBatch(ids, targets),
  distill_forward_backward: () => distiller.computeGradients(ids, targets, 1, false),
  distill_forward_backward_lambda0: () => distiller.computeGradients(ids, targets, 0, false),
  train_step: () => trainer.trainStep(ids, targets, 1e-5),
};
const best: Record<string, number> = {};
for (const run of Object.values(cases)) await run(); // warm-up: pipelines built
await ctx.idle();
for (let r = 0; r < Number(values.repeat); r++) {
  for (const [name, run] of Object.entries(cases)) {
    const start = performance.now();
    for (let i = 0; i < steps; i++) await run();
    await ctx.idle();
    const seconds = (performance.now() - start) / 1000 / steps;
    best[name] = Math.min(best[name] ?? Infinity, seconds);
  }
}
await distiller.readLogs();
console.log(
  JSON.stringify(
    {
      device: summarizeCapabilities(ctx.caps),
      model: values.teacher,
      tokens_per_step: B * S,
      parameters: prepared.problem.layout.count,
      seconds_per_step: best,
      tokens_per_second: Object.fromEntries(Object.entries(best).map(([k, s]) => [k, (B * S) / s])),
      distill_over_train: best.distill_step / best.train_step,
    },
    null,
    2,
  ),
);
distiller.destroy();
trainer.destroy();
ctx.destroy();
