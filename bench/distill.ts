/**
 * The acceptance recipe of distillation (docs/distillation.md), end to end through the CLI in-process, JSON out:
 *   1. `moe-lab prune` the dense model 50% with MoE-Pruner (calibration: --calib-samples windows of --calib-seq-len
 *      from --train-text, seed 0) into OUT/pruned;
 *   2. `moe-lab distill` it toward the dense model on --samples windows of --seq-len from --train-text for --steps
 *      steps of --batch windows per MoE layer, evaluating dense / pruned / distilled on --eval-text (windows of --eval-ctx),
 *      into OUT/distilled, the curves as SVG into --curves;
 *   3. prints the report's numbers with the wall time of each stage (distillation seconds exclude evaluation).
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/distill.ts --dense DIR
 *      [--train-text build/corpus/brown/train.txt] [--eval-text public/data/brown/heldout.txt] [--out build/distill]
 *      [--steps 150] [--lr 1e-3] [--batch 4] [--samples 256] [--seq-len 128] [--eval-max-tokens N] [--curves FILE]
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { main } from '../src/cli/main.ts';
import type { DistillReport } from '../src/engine/distill/report.ts';

const { values } = parseArgs({
  options: {
    dense: { type: 'string' },
    'train-text': { type: 'string', default: 'build/corpus/brown/train.txt' },
    'eval-text': { type: 'string', default: 'public/data/brown/heldout.txt' },
    out: { type: 'string', default: 'build/distill' },
    'calib-samples': { type: 'string', default: '128' },
    'calib-seq-len': { type: 'string', default: '256' },
    steps: { type: 'string', default: '150' },
    lr: { type: 'string', default: '1e-3' },
    batch: { type: 'string', default: '4' },
    samples: { type: 'string', default: '256' },
    'seq-len': { type: 'string', default: '128' },
    'eval-ctx': { type: 'string' },
    'eval-max-tokens': { type: 'string' },
    curves: { type: 'string' },
  },
});
if (!values.dense) throw new Error('give --dense DIR (the dense model folder)');
const dense = values.dense;
const out = join(values.out!, basename(dense));
const io = { out: (t: string) => console.error(t), err: (t: string) => console.error(t) };

async function timed(argv: string[]): Promise<number> {
  const start = performance.now();
  const code = await main(argv, io);
  if (code !== 0) throw new Error(`moe-lab ${argv[0]} failed (exit ${code})`);
  return (performance.now() - start) / 1000;
}

const pruned = `${out}-pruned`;
const distilled = `${out}-distilled`;
const pruneSeconds = await timed([
  'prune',
  '--model',
  dense,
  '--method',
  'moe-pruner',
  '--sparsity',
  '0.5',
  '--text',
  values['train-text']!,
  '--samples',
  values['calib-samples']!,
  '--seq-len',
  values['calib-seq-len']!,
  '--seed',
  '0',
  '--out',
  pruned,
]);
const optional = (flag: string, value: string | undefined) => (value === undefined ? [] : [`--${flag}`, value]);
const distillSeconds = await timed([
  'distill',
  '--teacher',
  dense,
  '--model',
  pruned,
  '--text',
  values['train-text']!,
  '--samples',
  values.samples!,
  '--seq-len',
  values['seq-len']!,
  '--seed',
  '0',
  '--steps',
  values.steps!,
  '--lr',
  values.lr!,
  '--batch',
  values.batch!,
  '--log-every',
  '10',
  '--eval-text',
  values['eval-text']!,
  ...optional('eval-ctx', values['eval-ctx']),
  ...optional('eval-max-tokens', values['eval-max-tokens']),
  '--out',
  distilled,
  ...optional('curves', values.curves),
]);
const report = JSON.parse(await readFile(join(distilled, 'distill-report.json'), 'utf8')) as DistillReport;
console.log(
  JSON.stringify(
    {
      dense,
      device: report.device,
      settings: report.settings,
      data: report.data,
      evaluation: report.evaluation,
      ppl_dense: report.ppl_dense,
      ppl_pruned: report.ppl_pruned,
      ppl_distilled: report.ppl_distilled,
      gap_recovered: report.gap_recovered,
      masks_preserved: report.masks_preserved,
      seconds: { prune: pruneSeconds, distill_training: report.seconds, distill_command: distillSeconds },
      layers: report.layers,
    },
    null,
    2,
  ),
);
