/**
 * The parameters [P_l] distillation trains in one MoE layer, as one flat f32 vector in the canonical layout
 * (src/engine/model/expert-layout.ts): gate_up [E, 2I, H] (each expert's I gate rows, then its I up rows), then
 * down [E, H, I], then, for experts with biases (gpt_oss), gate_up bias [E, 2I] (gate then up, as the rows) and down
 * bias [E, H]. The one definition of these offsets: the distiller, its f64 reference, the problem, the write-back
 * and the export all read them from here.
 */

export interface ExpertParameterShape {
  E: number;
  H: number;
  I: number;
  biases: boolean;
}

export interface ExpertParameterLayout {
  /** Element offsets in [P_l]. */
  gateUp: number;
  down: number;
  gateUpBias: number;
  downBias: number;
  /** Elements of the matrices (3 E I H): the weights masks can prune; biases are never pruned. */
  matrices: number;
  /** P_l. */
  count: number;
}

export function expertParameterLayout({ E, H, I, biases }: ExpertParameterShape): ExpertParameterLayout {
  const matrices = 3 * E * I * H;
  return { gateUp: 0, down: 2 * E * I * H, gateUpBias: matrices, downBias: matrices + 2 * E * I, matrices, count: matrices + (biases ? E * (2 * I + H) : 0) };
}
