/**
 * The page's quantization (src/api/quantize.ts; docs/quantization.md, "The page"): the experiment's quantize
 * section through the same lab code as `moe-lab quantize` (src/lab/quantize.ts), under the pruning masks in force,
 * with calibration windows drawn by the page's rule where GPTQ or mixed precision need them; then the quantized
 * model's perplexity on the evaluation text and, on request, its GPTQ checkpoint folder as files or one zip.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { ExportFile } from '../api/lab.ts';
import type { QuantizePerplexity, QuantizeRequest, QuantizeSummary } from '../api/quantize.ts';
import { QUANTIZE_REPORT_FORMAT } from '../engine/quantize/report.ts';
import { quantizeSettingsOf } from '../engine/quantize/settings.ts';
import { calibrationWindows } from './calibration.ts';
import type { LabSession } from './lab-session.ts';
import { perplexityUnder, quantizationInForce, quantizedPerplexity, quantizeEngineError, quantizeWithSettings, writeQuantized } from './quantize.ts';
import type { TextLibrary } from './texts.ts';
import { zipStored } from './zip.ts';

/**
 * SparseGPT's masks come with updated weights the quantizer does not read (it quantizes the loaded weights under
 * the masks), so the result would not be the pruned model's: refused rather than quietly different.
 */
export function checkQuantizableMasks(session: LabSession): void {
  if (session.masks?.report.method === 'sparsegpt')
    throw new EngineError({
      kind: 'bad-request',
      message: 'Quantizing after SparseGPT is not supported yet (its updated weights are not quantized): prune with another method, or remove the masks.',
    });
}

export async function runQuantize(session: LabSession, texts: TextLibrary, request: QuantizeRequest, options: OperationOptions): Promise<QuantizeSummary> {
  const settings = quantizeSettingsOf(request.quantize);
  if (!settings) throw new EngineError({ kind: 'bad-request', message: 'Choose a bit width (or mixed precision) to quantize to.' });
  checkQuantizableMasks(session);
  const tokenizer = session.tokenizer('quantization and its perplexity on a text');
  const needsWindows = settings.method === 'gptq' || settings.avgBits !== null;
  const windows = needsWindows ? (await calibrationWindows(session, texts, request.calibration)).windows : undefined;
  const masks = session.masks ? { masks: await session.masks.readMaskSet(), source: 'the pruning in force' } : null;
  let report;
  try {
    report = await quantizeWithSettings(
      session,
      settings,
      masks,
      { windows, info: { samples: request.calibration.samples, seqLen: request.calibration.seqLen, seed: request.calibration.seed } },
      options,
    );
  } catch (error) {
    throw quantizeEngineError(error);
  }
  const { text, ctx, maxTokens } = request.evaluation;
  const ids = await texts.firstTokens(tokenizer, text, maxTokens, true);
  const window = Math.min(ctx, session.contextLimit);
  const scored = { ids, ctx: window, stride: window };
  const numbers = ({ tokens, nll, ppl }: QuantizePerplexity): QuantizePerplexity => ({ tokens, nll, ppl });
  const perplexity = numbers(await quantizedPerplexity(session, scored, options));
  const dense = numbers(await perplexityUnder(session, null, scored, options));
  const pruned = session.masks ? numbers(await perplexityUnder(session, session.masks.gpu, scored, options)) : null;
  return { report, pruned: masks !== null, perplexity, reference: { dense, pruned } };
}

/** The quantized model in force as a GPTQ checkpoint folder (docs/quantization.md) with quantize-report.json, as files or one stored zip. */
export async function quantizedFiles(session: LabSession, request: { zip: boolean }): Promise<ExportFile[]> {
  const files: ExportFile[] = [];
  try {
    await writeQuantized(session, async (path, chunks) => {
      const parts: Uint8Array[] = [];
      for await (const chunk of chunks) parts.push(chunk);
      files.push({ path, bytes: new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()) });
    });
  } catch (error) {
    throw quantizeEngineError(error);
  }
  // The report as `moe-lab quantize --out` writes it beside the folder's files.
  const report = { format: QUANTIZE_REPORT_FORMAT, ...quantizationInForce(session).report };
  files.push({ path: 'quantize-report.json', bytes: new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`) });
  if (!request.zip) return files;
  const folder = `${session.name.replace(/[^\w.-]+/g, '-')}-gptq`;
  const parts = zipStored(files.map((f) => ({ path: `${folder}/${f.path}`, bytes: f.bytes })));
  return [{ path: 'quantized.zip', bytes: new Uint8Array(await new Blob(parts as BlobPart[]).arrayBuffer()) }];
}
