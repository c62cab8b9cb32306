/**
 * The distillation objective on the CPU in f64, through the project's reference forward (which matches
 * transformers): the oracle the GPU gradients are checked against by finite differences.
 *   loss = CE + lambda * L_expert,   L_expert = sum over layers l and experts e with n_le > 0 tokens of
 *   MSE_le = 1 / (n_le H) * sum over the batch's tokens t routed to e of || E_e^student(x_t) - E_e^teacher(x_t) ||^2
 * where x_t is the student's own MoE input (post-attention RMSNorm output) of token t, so the teacher expert sees
 * exactly the rows the student expert sees and each term isolates that expert's pruning damage; the teacher
 * expert E_e^teacher is the dense checkpoint's (frozen). CE = mean next-token cross-entropy over the batch. The
 * student routes (dropped experts masked out); the teacher's router is not used.
 */
import { referenceForward } from '../reference/forward.ts';
import { nllOfRow, swiglu } from '../reference/ops.ts';
import type { ParamLayout } from '../train/config.ts';
import { referenceWeightsOf } from '../train/reference/model.ts';

export interface DistillReferenceLoss {
  loss: number;
  crossEntropy: number;
  expertLoss: number;
  /** MSE [L][E] (0 where an expert got no token). */
  mse: number[][];
}

/**
 * The objective on B windows of S tokens (ids, targets [B * S], S = layout's context length) for flat student and
 * teacher parameters; `expertEnabled[l]` [E] marks dropped experts (null: all enabled).
 */
export function referenceDistillLoss(
  layout: ParamLayout,
  student: Float32Array,
  teacher: Float32Array,
  ids: ArrayLike<number>,
  targets: ArrayLike<number>,
  lambda: number,
  expertEnabled: (Uint8Array | null)[] = [],
): DistillReferenceLoss {
  const weights = referenceWeightsOf(layout, student);
  weights.layers.forEach((layer, l) => (layer.expertEnabled = expertEnabled[l] ?? null));
  const { contextLength: S, vocabSize: V, numExperts: E, numLayers: L, hiddenSize: H, expertFfnSize: I } = layout.config;
  const squared = Array.from({ length: L }, () => new Float64Array(E));
  const tokens = Array.from({ length: L }, () => new Float64Array(E));
  const windows = ids.length / S;
  let nll = 0;
  for (let w = 0; w < windows; w++) {
    const window = Array.from({ length: S }, (_, s) => ids[w * S + s]);
    const { logits } = referenceForward(weights, window, {
      onMoeLayer: (l, trace) => {
        const t = layout.layers[l];
        const w13 = teacher.subarray(t.w13.offset, t.w13.offset + t.w13.size);
        const w2 = teacher.subarray(t.w2.offset, t.w2.offset + t.w2.size);
        trace.experts.forEach((x, e) => {
          const n = x.tokens.length;
          if (!n) return;
          const target = swiglu(x.input, n, H, I, w13, e * 2 * I * H, w2, e * H * I).out;
          for (let i = 0; i < n * H; i++) squared[l][e] += (x.output[i] - target[i]) ** 2;
          tokens[l][e] += n;
        });
      },
    });
    for (let s = 0; s < S; s++) nll += nllOfRow(logits, s * V, V, targets[w * S + s]);
  }
  const mse = squared.map((row, l) => Array.from(row, (sum, e) => (tokens[l][e] ? sum / (tokens[l][e] * H) : 0)));
  const expertLoss = mse.flat().reduce((a, b) => a + b, 0);
  const crossEntropy = nll / ids.length;
  return { loss: crossEntropy + lambda * expertLoss, crossEntropy, expertLoss, mse };
}
