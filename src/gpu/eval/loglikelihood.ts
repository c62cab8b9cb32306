/**
 * Log-likelihoods of many scoring requests (src/engine/eval/loglikelihood.ts) on the GPU forward, many per
 * dispatch: requests are sorted longest first and packed B at a time into windows of S tokens (S the longest in the
 * batch), right-padded; S only falls, so one forward shape is alive at a time. Attention is causal and routing is
 * per token, so padding after a sequence changes none of its positions. Identical sequences (the same answer under
 * the same context) are computed once. The forward's per-token NLL kernel (shaders/eval/nll.wgsl) gives
 * -log p(ids[t + 1] | ids[0..t]); a request's log-likelihood is minus the f64 sum of its scored positions in order.
 * The forward attends inside a window only and keeps no cache between windows, so a context shared by the answers of
 * one item is run once per answer.
 */
import type { ScoringRequest } from '../../engine/eval/loglikelihood.ts';
import { GpuForward } from '../model/forward.ts';
import type { GpuModel } from '../model/gpu-model.ts';
import type { GpuMaskSet } from '../model/gpu-mask-set.ts';
import { batchSize } from './perplexity.ts';

export interface LogLikelihoodOptions {
  masks?: GpuMaskSet | null;
  /** Upper bound on B * S per pass (memory; default 8192, as perplexity). */
  tokensPerPass?: number;
  /** The longest window the model runs (its context); S never exceeds it. */
  maxSeqLen: number;
  onProgress?: (progress: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

/** Summed log-likelihood (nats) of each request's scored tokens, in request order. */
export async function logLikelihoods(model: GpuModel, requests: readonly ScoringRequest[], options: LogLikelihoodOptions): Promise<Float64Array> {
  // Distinct sequences: the key is the ids and where scoring starts.
  const unique = new Map<string, number>();
  const distinct: ScoringRequest[] = [];
  const slot = requests.map((r) => {
    const key = `${r.scoredFrom}:${r.ids.join(',')}`;
    let index = unique.get(key);
    if (index === undefined) {
      index = distinct.length;
      unique.set(key, index);
      distinct.push(r);
    }
    return index;
  });
  const order = distinct.map((_, i) => i).sort((a, b) => distinct[b].ids.length - distinct[a].ids.length || a - b);
  const sums = new Float64Array(distinct.length);
  let forward = null as GpuForward | null;
  let done = 0;
  try {
    for (let start = 0; start < order.length;) {
      options.signal?.throwIfAborted();
      const S = distinct[order[start]].ids.length;
      if (S > options.maxSeqLen) throw new RangeError(`a sequence of ${S} tokens is longer than the model's context (${options.maxSeqLen})`);
      const B = Math.min(batchSize(model, S, { tokensPerPass: options.tokensPerPass }), order.length - start);
      const batch = order.slice(start, start + B);
      if (forward?.windows !== B || forward.seqLen !== S) {
        forward?.destroy();
        forward = new GpuForward(model, B, S);
      }
      // Padding: token 0 after each sequence (any id would do: nothing before it reads it).
      const ids = new Array<number>(B * S).fill(0);
      batch.forEach((r, b) => distinct[r].ids.forEach((id, t) => (ids[b * S + t] = id)));
      const { nll } = await forward.run({ ids, nll: true, masks: options.masks, signal: options.signal });
      batch.forEach((r, b) => {
        const { ids: seq, scoredFrom } = distinct[r];
        let sum = 0;
        // nll[t] scores token t + 1.
        for (let t = scoredFrom; t < seq.length; t++) sum += nll![b * S + t - 1];
        sums[r] = -sum;
      });
      start += B;
      done += B;
      options.onProgress?.({ done, total: order.length });
    }
  } finally {
    forward?.destroy();
  }
  return Float64Array.from(slot, (i) => sums[i]);
}
