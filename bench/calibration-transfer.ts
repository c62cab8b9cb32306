/**
 * Calibrate on genre X, evaluate on genre Y: how much a pruning depends on its calibration text. For each
 * calibration genre the lab service (the page's code: LabService.prune, then evaluate per genre) prunes with
 * --method at --sparsity from N windows of L tokens of that genre, then measures the pruned model's perplexity on
 * every evaluation genre of the held-out Brown text; the masks of every pair of calibration genres are compared
 * (src/engine/prune/mask-compare.ts: |P_A xor P_B| / (|P_A| + |P_B|)). Also each calibration's coverage: experts
 * under MIN_EXPERT_TOKENS. JSON out; --markdown prints the two tables.
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/calibration-transfer.ts
 *      [--model public/models/brown-moe-3m] [--genres news,learned,fiction,romance] [--method moe-pruner]
 *      [--sparsity 0.5] [--samples 32] [--seq-len 128] [--seed 0] [--ctx 128] [--max-tokens 8192] [--markdown]
 */
import { parseArgs } from 'node:util';
import type { PruneRequest } from '../src/api/lab.ts';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { nodeLab } from '../src/cli/node-lab.ts';
import { defaultPrune } from '../src/engine/experiment/schema.ts';
import type { MaskSet } from '../src/engine/model/mask-set.ts';
import { compareMaskSets } from '../src/engine/prune/mask-compare.ts';
import { canonicalElements } from '../src/engine/prune/layer-plan.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/brown-moe-3m' },
    genres: { type: 'string', default: 'news,learned,fiction,romance' },
    method: { type: 'string', default: 'moe-pruner' },
    sparsity: { type: 'string', default: '0.5' },
    samples: { type: 'string', default: '32' },
    'seq-len': { type: 'string', default: '128' },
    seed: { type: 'string', default: '0' },
    ctx: { type: 'string', default: '128' },
    'max-tokens': { type: 'string', default: '8192' },
    markdown: { type: 'boolean', default: false },
  },
});

const TEXT = 'brown-heldout';
const genres = values.genres.split(',').map((g) => g.trim());
const lab = nodeLab('calibration transfer');
try {
  const { spec } = await lab.loadFolder(await directoryFolder(values.model));
  const rows: { calibration: string; lowCoverage: number; ppl: Record<string, number> }[] = [];
  const masks: MaskSet[] = [];
  for (const genre of genres) {
    const request: PruneRequest = {
      ...defaultPrune(),
      method: values.method as PruneRequest['method'],
      sparsity: Number(values.sparsity),
      calibration: {
        text: { kind: 'corpus', id: TEXT, genre },
        samples: Number(values.samples),
        seqLen: Number(values['seq-len']),
        seed: Number(values.seed),
        mode: 'dense',
      },
    };
    const summary = await lab.prune(request);
    masks.push(await lab.readMasks());
    const report = await lab.evaluate({
      text: { kind: 'corpus', id: TEXT },
      ctx: Number(values.ctx),
      maxTokens: Number(values['max-tokens']),
      byGenre: true,
      variants: ['pruned'],
    });
    const ppl = Object.fromEntries(report.results[0].genres.filter((g) => genres.includes(g.id)).map((g) => [g.id, g.ppl]));
    const lowCoverage = (summary.calibration?.layers ?? []).reduce((n, l) => n + l.lowCoverageExperts.length, 0);
    rows.push({ calibration: genre, lowCoverage, ppl });
    process.stderr.write(`calibrated on ${genre}: ${JSON.stringify(ppl)}\n`);
  }
  const dense = await lab.evaluate({
    text: { kind: 'corpus', id: TEXT },
    ctx: Number(values.ctx),
    maxTokens: Number(values['max-tokens']),
    byGenre: true,
    variants: ['dense'],
  });
  const densePpl = Object.fromEntries(dense.results[0].genres.filter((g) => genres.includes(g.id)).map((g) => [g.id, g.ppl]));
  const shapes = { elements: (_: number, key: Parameters<typeof canonicalElements>[1]) => canonicalElements(spec, key), numExperts: spec.numExperts };
  const overlap = genres.map((_, a) => genres.map((__, b) => compareMaskSets(masks[a], masks[b], shapes).overall.disagreement));
  const result = { model: values.model, method: values.method, sparsity: Number(values.sparsity), genres, dense: densePpl, rows, disagreement: overlap };
  if (!values.markdown) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    console.log(`| calibrated on \\ evaluated on | ${genres.join(' | ')} |`);
    console.log(`| --- | ${genres.map(() => '---:').join(' | ')} |`);
    console.log(`| dense | ${genres.map((g) => densePpl[g].toFixed(2)).join(' | ')} |`);
    for (const r of rows) console.log(`| ${r.calibration} | ${genres.map((g) => r.ppl[g].toFixed(2)).join(' | ')} |`);
    console.log('');
    console.log(`| mask disagreement | ${genres.join(' | ')} |`);
    console.log(`| --- | ${genres.map(() => '---:').join(' | ')} |`);
    genres.forEach((g, a) => console.log(`| ${g} | ${overlap[a].map((d) => `${(100 * d).toFixed(2)}%`).join(' | ')} |`));
  }
} finally {
  await lab.dispose();
}
