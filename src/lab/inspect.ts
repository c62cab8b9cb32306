/**
 * The router inspector's computation: route the first tokens of a text through the dense model (and the pruned
 * one when masks are set), summarize every MoE layer (routing-summary.ts), and route the first tokens of every
 * genre (or every page text) for the load-by-source view. Two or three forward passes without the LM head.
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { InspectRequest, RoutingReport, RoutingView, SourceLoad, Variant } from '../api/lab.ts';
import { recordTokenRouting, type RoutingRecord } from '../gpu/calibration/routing-record.ts';
import type { GpuModel } from '../gpu/model/gpu-model.ts';
import type { GpuMaskSet } from '../gpu/model/gpu-mask-set.ts';
import { progressStep, type LabSession } from './lab-session.ts';
import { expertLoad, routingDrift, summarizeLayer } from './routing-summary.ts';
import { firstTokensOf, type TextLibrary } from './texts.ts';

/** Token text of each id, decoded on its own (a byte-level piece of a longer character shows as U+FFFD). */
export function tokenTexts(session: LabSession, ids: readonly number[]): string[] {
  const tokenizer = session.tokenizer('showing tokens');
  return ids.map((id) => tokenizer.decode([id]));
}

function view(session: LabSession, record: RoutingRecord, variant: Variant, window = 0): RoutingView {
  const { numExperts: E, topK: K, routing } = session.loaded.summary.spec;
  const S = record.seqLen;
  const layers = record.layers.flatMap((layer, l) => {
    if (!layer) return [];
    const slice = {
      expertIds: layer.expertIds.slice(window * S * K, (window + 1) * S * K),
      gates: layer.gates.slice(window * S * K, (window + 1) * S * K),
      entropy: layer.entropy.slice(window * S, (window + 1) * S),
      margin: layer.margin.slice(window * S, (window + 1) * S),
      routerLogits: layer.routerLogits?.slice(window * S * E, (window + 1) * S * E),
      correctionBias: layer.correctionBias,
    };
    return [summarizeLayer(l, slice, E, K, routing)];
  });
  return { variant, layers };
}

export async function runInspection(session: LabSession, texts: TextLibrary, request: InspectRequest, options: OperationOptions): Promise<RoutingReport> {
  const tokenizer = session.tokenizer('the router inspector');
  const { numExperts: E, topK: K } = session.loaded.summary.spec;
  const limit = session.contextLimit;
  if (!Number.isInteger(request.tokens) || request.tokens < 2 || request.tokens > limit) {
    throw new EngineError({ kind: 'bad-request', message: `Inspect 2 to ${limit} tokens (the model's context); got ${request.tokens}.` });
  }
  const { onProgress, signal } = options;
  const model = await session.model(options);
  const masks = session.masks?.gpu ?? null;
  const passes = (masks ? 2 : 1) * (request.bySource ? 2 : 1);
  let done = 0;
  const step = (message: string) => onProgress?.(progressStep('compute', message, ++done, passes));
  onProgress?.(progressStep('compute', 'Reading the text', 0, passes));
  const ids = await texts.firstTokens(tokenizer, request.text, request.tokens, false);
  if (ids.length < 2) throw new EngineError({ kind: 'bad-request', message: 'The text is too short to inspect: it has fewer than 2 tokens.' });
  const route = async (windows: number[][], gpuMasks: GpuMaskSet | null) => recordTokenRouting(model, windows, { masks: gpuMasks, signal });
  const dense = view(session, await route([ids], null), 'dense');
  step('Routed the dense model');
  let pruned: RoutingView | null = null;
  if (masks) {
    pruned = view(session, await route([ids], masks), 'pruned');
    step('Routed the pruned model');
  }
  const drift = pruned ? dense.layers.map((d, i) => routingDrift(d, pruned.layers[i], E, K)) : null;
  const sources = request.bySource ? await sourceLoads(session, texts, model, request, masks, signal, step) : [];
  return { text: request.text, tokenTexts: tokenTexts(session, ids), numExperts: E, topK: K, dense, pruned, drift, sources };
}

/** Expert load of the first tokens of every genre of the text (or every page text), dense and pruned. */
async function sourceLoads(
  session: LabSession,
  texts: TextLibrary,
  model: GpuModel,
  request: InspectRequest,
  masks: GpuMaskSet | null,
  signal: AbortSignal | undefined,
  step: (message: string) => void,
): Promise<SourceLoad[]> {
  const tokenizer = session.tokenizer('the router inspector');
  const { numExperts: E } = session.loaded.summary.spec;
  const parts = await texts.parts(request.text);
  const ids = parts.map((p) => firstTokensOf(tokenizer, p.text, request.tokens, false));
  // One batch of equal-length windows: as long as the shortest part allows.
  const length = Math.min(...ids.map((w) => w.length));
  if (length < 2) return [];
  const windows = ids.map((w) => w.slice(0, length));
  const loads = async (gpuMasks: GpuMaskSet | null) => {
    const record = await recordTokenRouting(model, windows, { masks: gpuMasks, signal });
    return windows.map((_, b) =>
      record.layers.flatMap((layer) => (layer ? [expertLoad(layer.expertIds.slice(b * length * record.topK, (b + 1) * length * record.topK), E)] : [])),
    );
  };
  const dense = await loads(null);
  step('Routed every source');
  const pruned = masks ? await loads(masks) : null;
  if (masks) step('Routed every source through the pruned model');
  return parts.map((p, i) => ({ id: p.id, name: p.name, tokens: length, dense: dense[i], pruned: pruned ? pruned[i] : null }));
}
