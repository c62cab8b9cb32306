/**
 * Zero-shot scoring by log-likelihood, as lm-evaluation-harness scores `multiple_choice` tasks (docs/evaluation.md):
 * each answer is a request (context, continuation) whose log-likelihood is the sum of log p(token | everything before)
 * over the continuation's tokens only. This file builds the token sequences and turns their log-likelihoods into
 * answers; the GPU computes the sums (src/gpu/eval/loglikelihood.ts).
 *
 * Encoding, after the harness's HFLM (`loglikelihood`, `_encode_pair`):
 * - the continuation is the target delimiter " " + the answer (BLiMP: " " + the sentence), so it keeps its leading
 *   space; trailing whitespace of a context moves to the front of the continuation;
 * - a non-empty context: ids = encode(context) ++ encode(context + continuation)[len(encode(context)):], no special
 *   tokens added;
 * - an empty context: the continuation is conditioned on the context token: the tokenizer's BOS token, else its EOS
 *   token (the harness's prefix_token_id); a tokenizer with neither makes the continuation's own first token the
 *   context, which is then not scored;
 * - a sequence longer than the model's context keeps its last tokens (the harness truncates on the left too).
 */

/** What scoring needs of a tokenizer (src/engine/tokenizer.ts's TextTokenizer has it). */
export interface ScoringTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  readonly bosTokenId: number | null;
  readonly eosTokenId: number | null;
}

/** lm-evaluation-harness's default `target_delimiter`, between a context (or nothing) and each answer. */
export const TARGET_DELIMITER = ' ';

/** A token sequence to score: log-likelihood = sum over t >= scoredFrom of log p(ids[t] | ids[0..t-1]). */
export interface ScoringRequest {
  ids: number[];
  /** Index of the first scored token, >= 1; the tokens before it are the context. */
  scoredFrom: number;
}

export type ContextTokenRule = 'bos' | 'eos' | 'first-token';

/** Which token conditions a continuation without context: BOS, else EOS, else its own first token (not scored). */
export function contextTokenRule(tokenizer: ScoringTokenizer): { rule: ContextTokenRule; id: number | null } {
  if (tokenizer.bosTokenId !== null) return { rule: 'bos', id: tokenizer.bosTokenId };
  if (tokenizer.eosTokenId !== null) return { rule: 'eos', id: tokenizer.eosTokenId };
  return { rule: 'first-token', id: null };
}

/**
 * The scoring request of (context, continuation), `maxTokens` the longest sequence the model runs. Throws a
 * RangeError when the continuation alone does not fit with one token of context, or scores no token at all.
 */
export function encodeRequest(tokenizer: ScoringTokenizer, context: string, continuation: string, maxTokens: number): ScoringRequest {
  const encode = (text: string) => tokenizer.encode(text, { addSpecialTokens: false });
  // Python's str.rstrip(): the context's trailing whitespace belongs to the continuation.
  const kept = context.trimEnd();
  const moved = context.slice(kept.length);
  let contextIds: number[] = [];
  let continuationIds: number[];
  if (kept === '') {
    continuationIds = encode(moved + continuation);
  } else {
    contextIds = encode(kept);
    continuationIds = encode(kept + moved + continuation).slice(contextIds.length);
  }
  let ids: number[];
  let scoredFrom: number;
  if (contextIds.length) {
    ids = [...contextIds, ...continuationIds];
    scoredFrom = contextIds.length;
  } else {
    const { id } = contextTokenRule(tokenizer);
    ids = id === null ? continuationIds : [id, ...continuationIds];
    scoredFrom = 1;
  }
  if (ids.length - scoredFrom < 1) throw new RangeError(`${JSON.stringify(continuation.slice(0, 40))} gives no token to score`);
  if (ids.length > maxTokens) {
    const cut = ids.length - maxTokens;
    if (cut >= scoredFrom)
      throw new RangeError(`the continuation is ${ids.length - scoredFrom} tokens; the model's context of ${maxTokens} leaves none for the context`);
    ids = ids.slice(cut);
    scoredFrom -= cut;
  }
  return { ids, scoredFrom };
}

/**
 * The index of the highest score, the first one on a tie (numpy's argmax, which the harness uses); NaN never wins.
 */
export function argmaxFirst(scores: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < scores.length; i++) if (!Number.isNaN(scores[i]) && (best < 0 || scores[i] > scores[best])) best = i;
  return best;
}

/** UTF-8 bytes of a string (acc_norm's length). */
export function utf8Bytes(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * A multiple-choice answer: `acc`'s choice is the argmax of the summed log-likelihoods; `acc_norm`'s of each divided
 * by its answer's length in UTF-8 bytes (without the delimiter, as the harness measures `doc_to_choice`; its
 * acc_norm counts characters and its acc_bytes bytes, the same for ASCII). Ties go to the first index.
 */
export function chooseAnswer(logLikelihoods: readonly number[], choices: readonly string[]): { predicted: number; predictedNorm: number } {
  return {
    predicted: argmaxFirst(logLikelihoods),
    predictedNorm: argmaxFirst(logLikelihoods.map((ll, i) => ll / utf8Bytes(choices[i]))),
  };
}

/** Accuracy of one group of items (a BLiMP field, term or paradigm). */
export interface GroupAccuracy {
  name: string;
  items: number;
  correct: number;
  accuracy: number;
}

/** Items grouped by `key`, in first-seen order, with their accuracy. */
export function groupAccuracy<T>(items: readonly T[], key: (item: T) => string, correct: (item: T) => boolean): GroupAccuracy[] {
  const groups = new Map<string, { items: number; correct: number }>();
  for (const item of items) {
    const group = groups.get(key(item)) ?? { items: 0, correct: 0 };
    group.items++;
    if (correct(item)) group.correct++;
    groups.set(key(item), group);
  }
  return [...groups].map(([name, g]) => ({ name, items: g.items, correct: g.correct, accuracy: g.correct / g.items }));
}
