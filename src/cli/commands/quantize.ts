/**
 * `moe-lab quantize --model DIR (--bits B | --avg-bits B) [--group-size G] [--method rtn|gptq]
 *  [--allocation knapsack|greedy] [--damp D] [--masks MASKS.safetensors] [--ids IDS.json | --text FILE [--samples N]
 *  [--seq-len L] [--seed S]] [--eval-text FILE | --eval-ids IDS.json] [--eval-ctx N] [--eval-max-tokens N] --out DIR [--json]`
 * Quantizes the routed experts' matrices through the lab service (src/lab/quantize.ts; docs/quantization.md):
 * symmetric per-group integer codes by round-to-nearest or GPTQ, uniform or mixed precision under an average bit
 * budget, pruned weights (a masks file, or zeros in the checkpoint) staying exactly 0. --eval-text / --eval-ids score tokens on
 * the quantized model as the lab runs it (dequantized in a shader). Writes DIR as a GPTQ checkpoint folder
 * (config.json with quantization_config, model.safetensors with qweight / qzeros / scales / g_idx, tokenizer files;
 * docs/quantization.md) plus quantize-report.json; `moe-lab ppl --model DIR` reloads it.
 */
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatBytes } from '../../engine/format-bytes.ts';
import { QUANT_BITS, type QuantBits } from '../../engine/quantize/quantized-matrix.ts';
import { SETTINGS } from '../../engine/experiment/vocabulary.ts';
import { QUANTIZE_REPORT_FORMAT } from '../../engine/quantize/report.ts';
import { QuantizeRequestError, quantizeSettingsOf, type QuantizeSettings } from '../../engine/quantize/settings.ts';
import { contextLimit } from '../../lab/lab-session.ts';
import { parseFlags, UsageError, type ParsedFlags } from '../args.ts';
import { directoryFolder } from '../fs-folder.ts';
import { nodeLab } from '../node-lab.ts';
import type { Command } from './command.ts';
import { DEFAULT_TEXT_CTX, readIdsFile, readMasksFile } from './ppl.ts';
import { CALIBRATION_FLAGS, calibrationFromFlags, QUANTIZE_FLAGS, QUANTIZE_USAGE, sectionFromFlags } from './prune-options.ts';
import { folderWriter } from './prune.ts';

/**
 * The settings of the flags (checked: usage errors name the flag): --bits or the quantize rows' --avg-bits, and the
 * rows' --method, --group-size, --allocation, --damp (sectionFromFlags: the page's defaults and limits).
 */
export function quantizeSettingsFromFlags(flags: ParsedFlags): QuantizeSettings {
  const bits = flags.optionalNumber('bits', { integer: true });
  const mixed = flags.optionalString(SETTINGS.quantAvgBits.cli!) !== undefined;
  if ((bits === undefined) !== mixed) throw new UsageError('quantize: give exactly one of --bits B (uniform) and --avg-bits B (mixed precision)');
  if (bits !== undefined && !QUANT_BITS.includes(bits as QuantBits)) throw new UsageError(`quantize: --bits ${bits} is not one of ${QUANT_BITS.join(', ')}`);
  const section = sectionFromFlags(flags, 'quantize', 'quantize');
  return quantizeSettingsOf({ ...section, bits: mixed ? 'mixed' : (String(bits) as typeof section.bits) })!;
}

export const quantizeCommand: Command = {
  name: 'quantize',
  summary: 'quantize the routed experts (RTN or GPTQ, uniform or mixed precision) on the GPU and report bytes and perplexity',
  usage:
    `quantize --model DIR (--bits ${QUANT_BITS.join('|')} | --avg-bits X) ${QUANTIZE_USAGE.replace('[--avg-bits X] ', '')} [--masks MASKS.safetensors] [--ids IDS.json | --text FILE [--samples N] [--seq-len L] [--seed S]] ` +
    `[--batch-tokens N] [--eval-text FILE | --eval-ids IDS.json] [--eval-ctx N] [--eval-max-tokens N] --out DIR [--json]`,
  async run(argv, io) {
    const flags = parseFlags(
      argv,
      {
        model: { type: 'string' },
        out: { type: 'string' },
        bits: { type: 'string' },
        ...QUANTIZE_FLAGS,
        masks: { type: 'string' },
        'eval-text': { type: 'string' },
        'eval-ids': { type: 'string' },
        'eval-ctx': { type: 'string' },
        'eval-max-tokens': { type: 'string' },
        json: { type: 'boolean' },
        ...CALIBRATION_FLAGS,
      },
      'quantize',
    );
    const modelDir = flags.string('model');
    const out = flags.string('out');
    if (resolve(out) === resolve(modelDir)) throw new UsageError('quantize: --out must be another folder than --model');
    const settings = quantizeSettingsFromFlags(flags);
    const masksFile = flags.optionalString('masks');
    const evalText = flags.optionalString('eval-text');
    const evalIds = flags.optionalString('eval-ids');
    if (evalText !== undefined && evalIds !== undefined) throw new UsageError('quantize: give one of --eval-text and --eval-ids, not both');
    const tokensPerBatch = flags.optionalNumber('batch-tokens', { min: 1, integer: true });
    const lab = nodeLab('moe-lab quantize');
    try {
      const started = performance.now();
      const { spec, contentHash } = await lab.loadFolder(await directoryFolder(modelDir));
      const checkpoint = lab.checkpoint();
      const calibration = await calibrationFromFlags(flags, checkpoint, modelDir, 'quantize');
      const masks = masksFile ? { masks: await readMasksFile(masksFile, spec, contentHash), source: masksFile } : null;
      let report;
      try {
        report = await lab.quantizeWithSettings(settings, masks, { windows: calibration?.windows, info: calibration?.info, tokensPerBatch });
      } catch (error) {
        if (error instanceof QuantizeRequestError) throw new UsageError(`quantize: ${error.message}`);
        throw error;
      }
      let evaluation = null;
      if (evalText !== undefined || evalIds !== undefined) {
        // --eval-ids: one window of the whole list by default, as `ppl --ids`; --eval-text: windows of the context.
        const ids = evalIds !== undefined ? await readIdsFile(evalIds, spec) : lab.textTokenizer('--eval-text').encode(await readFile(evalText!, 'utf8'));
        const fallbackCtx = evalIds !== undefined ? ids.length : Math.min(contextLimit(spec), DEFAULT_TEXT_CTX);
        const ctx = flags.number('eval-ctx', fallbackCtx, { min: 2, max: contextLimit(spec), integer: true });
        const maxTokens = flags.optionalNumber('eval-max-tokens', { min: 2, integer: true });
        const ppl = await lab.quantizedPerplexityOfIds({ ids, ctx, stride: ctx, maxTokens });
        evaluation = { source: evalIds ?? evalText, ctx, tokens: ppl.tokens, nll: ppl.nll, ppl: ppl.ppl };
      }
      const created = await mkdir(out, { recursive: true });
      let written;
      try {
        written = await lab.writeQuantized(folderWriter(out));
      } catch (error) {
        if (!(error instanceof QuantizeRequestError)) throw error;
        // Refused before any file was written: the folder this run made goes too (rmdir removes only an empty one).
        if (created !== undefined) await rmdir(out).catch(() => {});
        throw new UsageError(`quantize: ${error.message}`);
      }
      const files = [...written, 'quantize-report.json'];
      await writeFile(join(out, 'quantize-report.json'), `${JSON.stringify({ format: QUANTIZE_REPORT_FORMAT, ...report, evaluation }, null, 2)}\n`);
      const seconds = (performance.now() - started) / 1000;
      if (flags.flag('json')) {
        io.out(JSON.stringify({ out, ...report, evaluation, files, seconds }));
      } else {
        const acc = report.accounting;
        const width =
          report.bits !== null ? `${report.bits}-bit` : `mixed ${report.achievedBits.toFixed(3)} bits (budget ${report.avgBits}, ${report.allocation})`;
        const ppl = evaluation ? `; ppl ${evaluation.ppl.toFixed(4)} on ${evaluation.tokens} tokens of ${evaluation.source}` : '';
        io.out(
          `${out}: ${report.method} ${width}, group ${report.groupSize}, ${report.matrices.length} matrices; weights on disk ${formatBytes(acc.dense.diskBytes)} -> ${formatBytes(acc.quantized.diskBytes)}, ` +
            `read per token ${formatBytes(acc.dense.readPerTokenBytes)} -> ${formatBytes(acc.quantized.readPerTokenBytes)}${ppl}; ${seconds.toFixed(1)} s`,
        );
      }
    } finally {
      await lab.dispose();
    }
    return 0;
  },
};
