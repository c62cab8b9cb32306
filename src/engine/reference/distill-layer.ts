/**
 * The distillation objective of one MoE layer on the CPU in f64, and its gradient: the oracle the GPU step
 * (src/gpu/distill/distiller.ts) is checked against. With x_t the student's MoE input of token t (fixed: no
 * gradient flows into it) and the student's routing,
 *   L_l = sum over experts e with n_e > 0 of MSE_e,  MSE_e = 1 / (n_e H) * sum over the n_e rows routed to e of
 *         || E_e^student(x_t) - E_e^teacher(x_t) ||^2,   E(x) = W_down (silu(W_gate x) * W_up x)
 * (MoE-Pruner, Xie et al. 2024, sec. 3.3, the expert-wise term taken layer by layer). Experts are [P_l] =
 * gate_up [E, 2I, H] (each expert's I gate rows, then its I up rows) then down [E, H, I]; experts with biases
 * (gpt_oss) append gate_up bias [E, 2I] and down bias [E, H] to them, E(x) = W_down act(W_gate_up x + b_gu) + b_down
 * with gpt_oss's clamped SwiGLU as act (expertActivationReference).
 */
import { expertParameterLayout } from '../distill/layout.ts';
import type { ExpertActivation } from '../model/spec.ts';
import { expertActivationReference } from './distill/kernels.ts';

/** One layer's expert shape; `biases` and `activation` default to none and SwiGLU. */
export interface LayerExpertShape {
  E: number;
  H: number;
  I: number;
  biases?: boolean;
  activation?: ExpertActivation;
}

export interface LayerRouting {
  /** Per expert, the tokens routed to it, in row order. */
  tokens: number[][];
}

export interface LayerObjective {
  loss: number;
  mse: Float64Array; // [E]
  grad: Float64Array; // [P_l] d loss / d student experts
}

/** Offsets of expert e's bias vectors in [P_l] (meaningful when the layer has biases). */
function biasOffsets(e: number, shape: LayerExpertShape) {
  const layout = expertParameterLayout({ ...shape, biases: true });
  return { gateUp: layout.gateUpBias + e * 2 * shape.I, down: layout.downBias + e * shape.H };
}

/** One expert on one input row: pre-activations gu [2I], act [I], y [H]. */
function expert(w: ArrayLike<number>, e: number, x: ArrayLike<number>, xOffset: number, shape: LayerExpertShape) {
  const { E, H, I } = shape;
  const bias = biasOffsets(e, shape);
  const gu = new Float64Array(2 * I);
  for (let j = 0; j < 2 * I; j++) {
    let sum = shape.biases ? w[bias.gateUp + j] : 0;
    for (let h = 0; h < H; h++) sum += w[(e * 2 * I + j) * H + h] * x[xOffset + h];
    gu[j] = sum;
  }
  const activation = shape.activation ?? { kind: 'swiglu' };
  const act = Float64Array.from({ length: I }, (_, i) => expertActivationReference(gu[i], gu[I + i], activation).value);
  const down = 2 * E * I * H + e * H * I;
  const y = Float64Array.from({ length: H }, (_, h) => {
    let sum = shape.biases ? w[bias.down + h] : 0;
    for (let i = 0; i < I; i++) sum += w[down + h * I + i] * act[i];
    return sum;
  });
  return { gu, act, y };
}

/** L_l and its gradient for student / teacher experts [P_l], inputs x [T, H] and the routing. */
export function referenceLayerObjective(
  student: ArrayLike<number>,
  teacher: ArrayLike<number>,
  x: ArrayLike<number>,
  routing: LayerRouting,
  shape: LayerExpertShape,
): LayerObjective {
  const { E, H, I } = shape;
  const activation = shape.activation ?? { kind: 'swiglu' };
  const grad = new Float64Array(expertParameterLayout({ ...shape, biases: Boolean(shape.biases) }).count);
  const mse = new Float64Array(E);
  for (let e = 0; e < E; e++) {
    const tokens = routing.tokens[e];
    const n = tokens.length;
    if (!n) continue;
    for (const t of tokens) {
      const s = expert(student, e, x, t * H, shape);
      const d = expert(teacher, e, x, t * H, shape);
      const bias = biasOffsets(e, shape);
      const delta = new Float64Array(H);
      for (let h = 0; h < H; h++) {
        const diff = s.y[h] - d.y[h];
        mse[e] += (diff * diff) / (n * H);
        delta[h] = (2 / (n * H)) * diff;
        if (shape.biases) grad[bias.down + h] += delta[h];
      }
      const down = 2 * E * I * H + e * H * I;
      const dAct = new Float64Array(I);
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < I; i++) {
          grad[down + h * I + i] += delta[h] * s.act[i];
          dAct[i] += delta[h] * student[down + h * I + i];
        }
      }
      for (let i = 0; i < I; i++) {
        const local = expertActivationReference(s.gu[i], s.gu[I + i], activation);
        const dg = dAct[i] * local.dg;
        const du = dAct[i] * local.du;
        if (shape.biases) {
          grad[bias.gateUp + i] += dg;
          grad[bias.gateUp + I + i] += du;
        }
        for (let h = 0; h < H; h++) {
          grad[(e * 2 * I + i) * H + h] += dg * x[t * H + h];
          grad[(e * 2 * I + I + i) * H + h] += du * x[t * H + h];
        }
      }
    }
  }
  return { loss: mse.reduce((a, b) => a + b, 0), mse, grad };
}
