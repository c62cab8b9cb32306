/**
 * Evaluation inside the worker: perplexity of the dense and the pruned model on the same windows (per genre when
 * the text has a document index) and the pruned model's fidelity to the dense one there (KL, top-1 agreement), the per-token loss of both on one window (which tokens got harder), and
 * generation from one prompt. Texts are tokenized as `moe-lab ppl --text` does (special tokens as the tokenizer
 * adds them); windows are non-overlapping (src/engine/eval/windows.ts, stride = ctx).
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import { NEXT_TOKEN_CHOICES } from '../api/lab.ts';
import type {
  EvaluateReport,
  EvaluateRequest,
  GenerateRequest,
  GenerateResult,
  PerplexityNumbers,
  TokenLossReport,
  TokenLossRequest,
  Variant,
  VariantPerplexity,
} from '../api/lab.ts';
import { compareStreams } from '../gpu/eval/fidelity.ts';
import { generateTokens } from '../gpu/eval/generate.ts';
import { GpuForward } from '../gpu/model/forward.ts';
import type { GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import { tokenTexts } from './inspect.ts';
import { streamsPerplexity } from './parts-perplexity.ts';
import { passStep, progressStep, type LabSession } from './lab-session.ts';
import { steeredMasks } from './steering.ts';
import type { TextLibrary } from './texts.ts';

/** The masks of a variant: none for dense; the session's for pruned, or an error when nothing is pruned. */
export function masksOf(session: LabSession, variant: Variant): GpuMaskSet | null {
  if (variant === 'dense') return null;
  if (!session.masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then compare.' });
  return session.masks.gpu;
}

function checkWindow(session: LabSession, tokens: number, what: string): void {
  const limit = session.contextLimit;
  if (!Number.isInteger(tokens) || tokens < 2 || tokens > limit) {
    throw new EngineError({ kind: 'bad-request', message: `${what} must be 2 to ${limit} tokens (the model's context); got ${tokens}.` });
  }
}

/** Mean of per-part results weighted by tokens scored: the perplexity of all parts' tokens pooled. */
export function pooled(parts: readonly PerplexityNumbers[]): PerplexityNumbers {
  const tokens = parts.reduce((n, p) => n + p.tokens, 0);
  const nll = tokens ? parts.reduce((sum, p) => sum + p.nll * p.tokens, 0) / tokens : NaN;
  return { tokens, nll, ppl: Math.exp(nll) };
}

export async function runEvaluation(session: LabSession, texts: TextLibrary, request: EvaluateRequest, options: OperationOptions): Promise<EvaluateReport> {
  const started = performance.now();
  const tokenizer = session.tokenizer('perplexity on a text');
  checkWindow(session, request.ctx, 'The evaluation window');
  if (!Number.isInteger(request.maxTokens) || request.maxTokens < 2) {
    throw new EngineError({ kind: 'bad-request', message: `Evaluate at least 2 tokens; got ${request.maxTokens}.` });
  }
  if (!request.variants.length) throw new EngineError({ kind: 'bad-request', message: 'Choose dense, pruned or both to evaluate.' });
  const masks = request.variants.map((v) => masksOf(session, v));
  const { onProgress, signal } = options;
  onProgress?.(progressStep('compute', 'Tokenizing the evaluation text', 0, 1));
  const genres = request.byGenre ? await texts.genres(request.text) : [];
  const perPart = Math.max(2, Math.floor(request.maxTokens / Math.max(1, genres.length)));
  const ref = request.text;
  const parts =
    genres.length && ref.kind === 'corpus'
      ? await Promise.all(
          genres.map(async (g) => ({ id: g.id, name: g.name, ids: await texts.firstTokens(tokenizer, { ...ref, genre: g.id }, perPart, true) })),
        )
      : [{ id: '', name: '', ids: await texts.firstTokens(tokenizer, ref, perPart, true) }];
  const model = await session.model(options);
  const streams = parts.map((p) => p.ids.slice(0, perPart));
  const tooShort = () => new EngineError({ kind: 'bad-request', message: 'The text is too short to evaluate: no window has two tokens.' });
  if (request.variants.includes('dense') && request.variants.includes('pruned')) {
    // Both models in one pass per batch (src/gpu/eval/fidelity.ts): the same perplexities as two separate runs, plus
    // the pruned model's fidelity to the dense one on the same positions.
    const comparison = await compareStreams(model, streams, {
      ctx: request.ctx,
      masks: masks[request.variants.indexOf('pruned')]!,
      signal,
      onProgress: (p) => onProgress?.(progressStep('compute', 'Perplexity of the dense and the pruned model', p.done, p.total)),
    });
    const scored = parts.flatMap((part, i) => {
      const result = comparison.streams[i];
      return result ? [{ id: part.id, name: part.name, result }] : [];
    });
    if (!scored.length || !comparison.fidelity) throw tooShort();
    const compared = request.variants.map((variant): VariantPerplexity => {
      const numbers = scored.map(({ id, name, result }) => ({ id, name, ...result[variant] }));
      return { variant, overall: pooled(numbers), genres: genres.length ? numbers : [] };
    });
    const fidelity = { overall: comparison.fidelity, genres: genres.length ? scored.map(({ id, name, result }) => ({ id, name, ...result.fidelity })) : [] };
    return { text: request.text, ctx: request.ctx, results: compared, fidelity, seconds: (performance.now() - started) / 1000 };
  }
  const results: VariantPerplexity[] = [];
  for (const [v, variant] of request.variants.entries()) {
    const reports = await streamsPerplexity(model, streams, request.ctx, {
      masks: masks[v],
      signal,
      onProgress: (done, total, layer) =>
        onProgress?.(passStep(`Perplexity of the ${variant} model`, v * total + done, request.variants.length * total, layer, model.spec.numLayers)),
    });
    const numbers = parts.flatMap((part, i) => {
      const report = reports[i];
      return report ? [{ id: part.id, name: part.name, tokens: report.tokens, nll: report.nll, ppl: report.ppl }] : [];
    });
    if (!numbers.length) throw tooShort();
    results.push({ variant, overall: pooled(numbers), genres: genres.length ? numbers : [] });
  }
  return { text: request.text, ctx: request.ctx, results, fidelity: null, seconds: (performance.now() - started) / 1000 };
}

/** Per-token NLL of the first tokens of a text under the dense model and, when masks are set, the pruned one. */
export async function runTokenLoss(session: LabSession, texts: TextLibrary, request: TokenLossRequest, options: OperationOptions): Promise<TokenLossReport> {
  const tokenizer = session.tokenizer('the per-token loss view');
  checkWindow(session, request.tokens, 'The loss view');
  const ids = await texts.firstTokens(tokenizer, request.text, request.tokens, true);
  if (ids.length < 2) throw new EngineError({ kind: 'bad-request', message: 'The text is too short: it has fewer than 2 tokens.' });
  const model = await session.model(options);
  const forward = new GpuForward(model, 1, ids.length);
  const passes = session.masks ? 2 : 1;
  try {
    const lossOf = async (masks: GpuMaskSet | null, pass: number): Promise<Float32Array> => {
      options.onProgress?.(progressStep('compute', 'Scoring every token', pass, passes));
      const { nll } = await forward.run({ ids, nll: true, masks, signal: options.signal });
      // nll[t] scores token t + 1; token 0 has no prediction.
      const out = new Float32Array(ids.length).fill(NaN);
      out.set(nll!.subarray(0, ids.length - 1), 1);
      return out;
    };
    const dense = await lossOf(null, 0);
    const pruned = session.masks ? await lossOf(session.masks.gpu, 1) : null;
    options.onProgress?.(progressStep('compute', 'Scored every token', passes, passes));
    return { tokenTexts: tokenTexts(session, ids), dense, pruned };
  } finally {
    forward.destroy();
  }
}

export async function runGeneration(session: LabSession, request: GenerateRequest, options: OperationOptions): Promise<GenerateResult> {
  const model = await session.model(options);
  const steered = await steeredMasks(session, model, request.variant, request.disabledExperts, request.forcedExperts);
  try {
    return await generateWithMasks(session, request, steered.masks, options);
  } finally {
    steered.destroy();
  }
}

/** Generation from a text prompt under explicit masks (null: dense); `request.variant` only labels the result. */
export async function generateWithMasks(
  session: LabSession,
  request: GenerateRequest,
  masks: GpuMaskSet | null,
  options: OperationOptions,
): Promise<GenerateResult> {
  const tokenizer = session.tokenizer('generation');
  const prompt = tokenizer.encode(request.prompt);
  if (!prompt.length) throw new EngineError({ kind: 'bad-request', message: 'Write a prompt first.' });
  const room = session.contextLimit - prompt.length;
  if (room < 1)
    throw new EngineError({ kind: 'bad-request', message: `The prompt has ${prompt.length} tokens, the model's whole context (${session.contextLimit}).` });
  const maxNewTokens = Math.min(request.maxNewTokens, room);
  const model = await session.model(options);
  const { ids, stoppedAtEos, firstTokens } = await generateTokens(model, prompt, {
    maxNewTokens,
    topFirst: NEXT_TOKEN_CHOICES,
    sampling: request.sampling,
    masks,
    eosTokenId: tokenizer.eosTokenId ?? session.loaded.summary.spec.eosTokenId,
    signal: options.signal,
    // The text so far rides in the progress message, so the page can show it growing.
    onToken: (sofar) => options.onProgress?.(progressStep('compute', tokenizer.decode([...sofar]), sofar.length, maxNewTokens)),
  });
  const text = ids.length ? tokenizer.decode(ids) : '';
  return {
    variant: request.variant,
    sampling: request.sampling,
    promptTokens: prompt.length,
    tokenTexts: ids.map((id) => tokenizer.decode([id])),
    text,
    stoppedAtEos,
    nextTokens: firstTokens.map(({ id, p }) => ({ text: tokenizer.decode([id]), p })),
  };
}
