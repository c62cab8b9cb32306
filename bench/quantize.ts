/**
 * Quantization against bytes (docs/quantization.md): on one calibration set, each configuration of --configs is
 * quantized through the lab service (what `moe-lab quantize` runs) and its held-out perplexity measured on the
 * quantized model as the lab runs it (codes and scales dequantized in a shader), next to the dense model; each row
 * has the bytes on disk (GPTQ tensors), on the GPU with packed codes, read per token, and the summed routed-token
 * output error of the chosen widths. Mixed precision rows say their allocation; uniform rows at the same width are
 * the comparison at the same budget.
 * Run: scripts/with-vulkan.sh node --import tsx --loader ./bin/wgsl-loader.mjs bench/quantize.ts
 *      [--model public/models/brown-moe-3m] [--calib-text build/corpus/brown/train.txt]
 *      [--eval-text public/data/brown/heldout.txt] [--samples 64] [--seq-len 128] [--max-tokens 16384] [--ctx 256]
 *      [--group-size 32] [--configs rtn:8,rtn:4,rtn:3,gptq:8,gptq:4,gptq:3,rtn:avg3,rtn:avg4,gptq:avg3,gptq:avg4,rtn:avg3:greedy]
 * A config is METHOD:BITS (uniform) or METHOD:avgB[:greedy] (mixed precision, knapsack unless greedy).
 * Prints one JSON object: the settings, `dense` and `rows`.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { directoryFolder } from '../src/cli/fs-folder.ts';
import { nodeLab } from '../src/cli/node-lab.ts';
import { sampleWindows } from '../src/engine/calibration/sampling.ts';
import type { QuantBits } from '../src/engine/quantize/quantized-matrix.ts';
import { QUANTIZE_DEFAULTS, type QuantizeSettings } from '../src/engine/quantize/settings.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'public/models/brown-moe-3m' },
    'calib-text': { type: 'string', default: 'build/corpus/brown/train.txt' },
    'eval-text': { type: 'string', default: 'public/data/brown/heldout.txt' },
    samples: { type: 'string', default: '64' },
    'seq-len': { type: 'string', default: '128' },
    'max-tokens': { type: 'string', default: '16384' },
    ctx: { type: 'string', default: '256' },
    'group-size': { type: 'string', default: String(QUANTIZE_DEFAULTS.groupSize) },
    configs: { type: 'string', default: 'rtn:8,rtn:4,rtn:3,gptq:8,gptq:4,gptq:3,rtn:avg3,rtn:avg4,gptq:avg3,gptq:avg4,rtn:avg3:greedy,gptq:avg3:greedy' },
  },
});

function settingsOf(config: string): QuantizeSettings {
  const [method, width, allocation] = config.split(':');
  if (method !== 'rtn' && method !== 'gptq') throw new Error(`--configs ${config}: method must be rtn or gptq`);
  const mixed = width.startsWith('avg');
  return {
    ...QUANTIZE_DEFAULTS,
    method,
    groupSize: Number(values['group-size']),
    bits: mixed ? null : (Number(width) as QuantBits),
    avgBits: mixed ? Number(width.slice(3)) : null,
    allocation: allocation === 'greedy' ? 'greedy' : 'knapsack',
  };
}

const lab = nodeLab('bench-quantize');
try {
  await lab.loadFolder(await directoryFolder(values.model));
  const tokenizer = lab.textTokenizer('the bench');
  // The calibration of bench/structured.ts: seeded windows of the training text.
  const windows = sampleWindows(tokenizer.encode(await readFile(values['calib-text'], 'utf8'), { addSpecialTokens: false }), {
    samples: Number(values.samples),
    seqLen: Number(values['seq-len']),
    seed: 0,
  });
  const ids = tokenizer.encode(await readFile(values['eval-text'], 'utf8'));
  const evaluation = { ids, ctx: Number(values.ctx), stride: Number(values.ctx), maxTokens: Number(values['max-tokens']) };
  const dense = await lab.perplexityOfIds({ ...evaluation, masks: null });
  const rows = [];
  let denseBytes = null;
  for (const config of values.configs.split(',')) {
    const started = performance.now();
    const report = await lab.quantizeWithSettings(settingsOf(config), null, { windows });
    const ppl = await lab.quantizedPerplexityOfIds(evaluation);
    const acc = report.accounting;
    denseBytes = acc.dense;
    rows.push({
      config,
      method: report.method,
      bits: report.bits,
      avgBits: report.avgBits,
      allocation: report.allocation,
      achievedBits: +report.achievedBits.toFixed(4),
      widths: Object.fromEntries([8, 4, 3, 2].map((b) => [b, report.matrices.filter((m) => m.bits === b).length])),
      ppl: +ppl.ppl.toFixed(4),
      nll: +ppl.nll.toFixed(6),
      error: report.error === null ? null : +report.error.toPrecision(6),
      diskBytes: acc.quantized.diskBytes,
      gpuBytes: acc.quantized.gpuBytes,
      readPerTokenBytes: Math.round(acc.quantized.readPerTokenBytes),
      diskRatio: +acc.ratio.diskBytes.toFixed(4),
      seconds: +((performance.now() - started) / 1000).toFixed(1),
    });
    console.error(JSON.stringify(rows.at(-1)));
  }
  console.log(
    JSON.stringify(
      {
        model: values.model,
        calibration: { text: values['calib-text'], samples: Number(values.samples), seqLen: Number(values['seq-len']), seed: 0 },
        evaluation: { text: values['eval-text'], tokens: dense.tokens, ctx: evaluation.ctx },
        groupSize: Number(values['group-size']),
        dense: { ppl: +dense.ppl.toFixed(4), nll: +dense.nll.toFixed(6), ...denseBytes },
        rows,
      },
      null,
      2,
    ),
  );
} finally {
  await lab.dispose();
}
