/**
 * Text generation for the page's side-by-side view (dense vs pruned, greedy or seeded sampling). The forward has
 * no KV cache, so each new token runs the whole sequence again — fine for the short prompts and continuations of
 * a demonstration on small models, and exactly the model's function (nothing approximated). One forward shape of
 * S = prompt + new tokens positions is allocated once: attention is causal, so positions after the current one
 * (filled with id 0) never change the logits at it, and only that one row of the LM head is computed and read.
 */
import { createRng, type Rng } from '../../engine/random.ts';
import { GpuForward } from '../model/forward.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { GpuMaskSet } from '../model/gpu-mask-set.ts';

export type SamplingRule = { kind: 'greedy' } | { kind: 'sample'; seed: number; temperature: number };

export interface GenerateOptions {
  maxNewTokens: number;
  sampling: SamplingRule;
  masks?: GpuMaskSet | null;
  /** Stop after this token (the tokenizer's end of text); null: never stop early. */
  eosTokenId?: number | null;
  /** Also return the `topFirst` most probable first new tokens with their probabilities (0: none). */
  topFirst?: number;
  /** Called after every new token with all new ids so far. */
  onToken?: (ids: readonly number[]) => void;
  signal?: AbortSignal;
}

export interface GenerateOutput {
  /** The new token ids (without the prompt). */
  ids: number[];
  stoppedAtEos: boolean;
  /** The most probable first new tokens, softmax(logits) in f64, most probable first (ties: lower id). */
  firstTokens: { id: number; p: number }[];
}

/** The `count` most probable tokens of one row of logits [V] under softmax (f64), most probable first. */
export function topProbabilities(logits: ArrayLike<number>, count: number): { id: number; p: number }[] {
  if (count <= 0) return [];
  let max = -Infinity;
  for (let v = 0; v < logits.length; v++) max = Math.max(max, logits[v]);
  let sum = 0;
  for (let v = 0; v < logits.length; v++) sum += Number.isFinite(logits[v]) ? Math.exp(logits[v] - max) : 0;
  const ids = Array.from({ length: logits.length }, (_, v) => v).sort((a, b) => logits[b] - logits[a] || a - b);
  return ids.slice(0, count).map((id) => ({ id, p: Number.isFinite(logits[id]) ? Math.exp(logits[id] - max) / sum : 0 }));
}

/**
 * The next token from one row of logits [V]: greedy takes the largest (the lowest id among equal ones, as
 * torch.argmax does); sampling draws from softmax(logits / temperature), computed in f64, with one uniform draw
 * of `rng` per token by inverse CDF over ids in order, so (logits, seed) fixes the choice.
 */
export function chooseToken(logits: ArrayLike<number>, sampling: SamplingRule, rng: Rng | null): number {
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  if (sampling.kind === 'greedy') return best;
  if (!rng) throw new Error('chooseToken: sampling needs a random generator');
  const temperature = sampling.temperature;
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a positive number (got ${temperature})`);
  const max = logits[best];
  const weights = new Float64Array(logits.length);
  let sum = 0;
  for (let v = 0; v < logits.length; v++) {
    const w = Number.isFinite(logits[v]) ? Math.exp((logits[v] - max) / temperature) : 0;
    weights[v] = w;
    sum += w;
  }
  const target = rng.next() * sum;
  let cumulative = 0;
  for (let v = 0; v < weights.length; v++) {
    cumulative += weights[v];
    if (target < cumulative) return v;
  }
  return best; // only reached through rounding at the very top of the range
}

/** Continues `prompt` (token ids) by up to `maxNewTokens` tokens on `model`. */
export async function generateTokens(model: GpuModel, prompt: readonly number[], options: GenerateOptions): Promise<GenerateOutput> {
  const { spec, ctx } = model;
  if (prompt.length === 0) throw new RangeError('generation needs a prompt of at least one token');
  if (!Number.isInteger(options.maxNewTokens) || options.maxNewTokens < 1)
    throw new RangeError(`new tokens must be a positive integer (got ${options.maxNewTokens})`);
  const length = prompt.length + options.maxNewTokens;
  if (length > spec.maxPositions) {
    throw new RangeError(`prompt (${prompt.length} tokens) + ${options.maxNewTokens} new tokens exceed the model's ${spec.maxPositions} positions`);
  }
  const rng = options.sampling.kind === 'sample' ? createRng(options.sampling.seed) : null;
  const forward = new GpuForward(model, 1, length);
  const ids = new Uint32Array(length); // [S]; positions past the current one hold 0 and are never attended to
  ids.set(prompt);
  const generated: number[] = [];
  let firstTokens: { id: number; p: number }[] = [];
  try {
    for (let position = prompt.length; position < length; position++) {
      options.signal?.throwIfAborted();
      forward.writeIds(ids);
      const rec = ctx.record('generate');
      forward.recordEmbedding(rec);
      await forward.recordLayers(rec, (l) => ({ masks: options.masks?.layers[l] ?? null }));
      forward.recordFinalNorm(rec);
      forward.recordHeadChunk(rec, position - 1, 1, false);
      await rec.submit();
      const logits = await ctx.readF32(forward.ws.logits, 0, spec.vocabSize * 4); // [V] of the row at position - 1
      ctx.throwIfFailed();
      if (position === prompt.length) firstTokens = topProbabilities(logits, options.topFirst ?? 0);
      const next = chooseToken(logits, options.sampling, rng);
      generated.push(next);
      ids[position] = next;
      options.onToken?.(generated);
      if (options.eosTokenId !== undefined && options.eosTokenId !== null && next === options.eosTokenId)
        return { ids: generated, stoppedAtEos: true, firstTokens };
    }
    return { ids: generated, stoppedAtEos: false, firstTokens };
  } finally {
    forward.destroy();
  }
}
