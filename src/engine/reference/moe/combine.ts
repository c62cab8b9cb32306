/**
 * The MoE combine on the CPU (f64), the oracle of shaders/moe/combine.wgsl: per token t,
 *   out[t] = s_t * sharedOut[t] + sum over slots k of g[t, k] * expertOut[rowOfSlot[t K + k]]
 * with s_t = sigmoid(sharedGateLogit[t]) (Qwen2-MoE's gated shared expert; without a shared expert the term is
 * absent). An empty slot (rowOfSlot = NO_SLOT_ROW) adds nothing. The whole MoE block's oracle is moeBlock in
 * ../forward.ts, which sums the same terms expert by expert.
 */
import { sigmoid } from '../ops.ts';
import { NO_SLOT_ROW } from './dispatch.ts';

export interface CombineShared {
  out: ArrayLike<number>; // [T, H] the shared expert's output
  gateLogit: ArrayLike<number>; // [T] shared_expert_gate . x
}

/** expertOut [rows, H] (gathered rows), gates and rowOfSlot [T * K] -> out [T, H]. */
export function combineReference(
  expertOut: ArrayLike<number>,
  gates: ArrayLike<number>,
  rowOfSlot: ArrayLike<number>,
  T: number,
  K: number,
  H: number,
  shared: CombineShared | null,
): Float64Array {
  const out = new Float64Array(T * H);
  for (let t = 0; t < T; t++) {
    const scale = shared ? sigmoid(shared.gateLogit[t]) : 0;
    for (let h = 0; h < H; h++) {
      let sum = shared ? scale * shared.out[t * H + h] : 0;
      for (let slot = 0; slot < K; slot++) {
        const row = rowOfSlot[t * K + slot];
        if (row !== NO_SLOT_ROW) sum += gates[t * K + slot] * expertOut[row * H + h];
      }
      out[t * H + h] = sum;
    }
  }
  return out;
}
