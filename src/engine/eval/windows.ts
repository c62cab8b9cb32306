/**
 * Evaluation windows for perplexity over a long token stream (pure, no GPU).
 *
 * Convention (docs/forward.md): windows of `ctx` tokens start every `stride` tokens, as in Hugging Face's
 * perplexity guide (`for begin_loc in range(0, seq_len, stride)`); each window scores only the tokens the previous
 * window did not reach (trg_len = end - prev_end), and a window's first token is never scored because nothing in
 * the window predicts it. So:
 * - stride = ctx (the default): non-overlapping windows, as Wanda and SparseGPT evaluate; every token is predicted
 *   once except the first of each window (N - windows predictions). Unlike Wanda's loop, a shorter last window
 *   is kept, so no tail token is dropped.
 * - stride < ctx: overlapping windows; only the last `stride` tokens of each window after the first are scored,
 *   each with up to ctx - stride tokens of extra context (a lower, closer-to-streaming perplexity).
 */

export interface EvalWindow {
  /** First token of the window in the stream. */
  start: number;
  /** Tokens in the window (ctx, or fewer for the last). */
  length: number;
  /** Position in the window of the first scored token (>= 1): tokens firstScored .. length - 1 are predicted. */
  firstScored: number;
}

export interface WindowPlan {
  windows: EvalWindow[];
  /** Tokens of the stream covered. */
  tokens: number;
  /** Tokens scored in all (the denominator of the mean NLL). */
  predictions: number;
}

/** Plans windows over `totalTokens` tokens; throws RangeError on a bad ctx/stride. */
export function planWindows(totalTokens: number, ctx: number, stride: number = ctx): WindowPlan {
  if (!Number.isInteger(ctx) || ctx < 2) throw new RangeError(`context length must be an integer >= 2 (got ${ctx})`);
  if (!Number.isInteger(stride) || stride < 1 || stride > ctx) throw new RangeError(`stride must be an integer in 1..${ctx} (got ${stride})`);
  const windows: EvalWindow[] = [];
  let predictions = 0;
  let previousEnd = 0;
  for (let start = 0; start < totalTokens; start += stride) {
    const end = Math.min(start + ctx, totalTokens);
    const length = end - start;
    const firstScored = Math.max(1, length - (end - previousEnd));
    if (firstScored < length) {
      windows.push({ start, length, firstScored });
      predictions += length - firstScored;
    }
    previousEnd = end;
    if (end === totalTokens) break;
  }
  return { windows, tokens: totalTokens, predictions };
}
