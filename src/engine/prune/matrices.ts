/**
 * The prunable expert matrices of a checkpoint, in the engine's canonical order, with the layer groups they form
 * and the calibration statistics (docs/architecture.md, "Calibration statistics file") their column factors come from.
 *
 * Canonical order of one MoE layer's routed experts, which is also the tie order of a 'layer' group: the stacked
 * gate_up [E, 2I, H] (expert 0's gate rows, expert 0's up rows, expert 1's gate rows, ...) followed by the stacked
 * down [E, H, I]. A layer group = all routed experts' gate, up and down of one layer; a shared expert (Qwen2-MoE)
 * forms its own layer group (gate, up, down). Dense MLP layers and attention are not expert matrices.
 */
import type { MoeModelSpec } from '../model/spec.ts';
import { gptOssUnsupported } from '../model/expert-layout.ts';
import type { WeightNames } from '../model/weights.ts';
import type { PruneMatrixShape } from './plan.ts';

export type Projection = 'gate' | 'up' | 'down';

export interface ExpertMatrix extends PruneMatrixShape {
  layer: number;
  expert: number | 'shared';
  projection: Projection;
  /** Checkpoint tensor holding it; fused layouts hold all experts, starting at `elementOffset`. */
  tensor: string;
  elementOffset: number;
  /** Statistic of its input columns for wanda (sum of x_j^2) and for moe-pruner (sum of (g x_j)^2). */
  statistic: string;
  gatedStatistic: string;
}

/** Every routed (and shared) expert matrix, routed layer groups numbered 2l, shared ones 2l + 1. */
export function expertMatrices(spec: MoeModelSpec, names: WeightNames): ExpertMatrix[] {
  const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
  const out: ExpertMatrix[] = [];
  const add = (m: Omit<ExpertMatrix, 'label' | 'randomStream' | 'statistic' | 'gatedStatistic'>) => {
    const owner = m.expert === 'shared' ? `layers.${m.layer}.shared` : `layers.${m.layer}.experts.${m.expert}`;
    const statistic = `${owner}.${m.projection === 'down' ? 'inter_sqnorm' : 'input_sqnorm'}`;
    out.push({ ...m, label: `${owner}.${m.projection}`, randomStream: out.length, statistic, gatedStatistic: `${statistic}_gated` });
  };
  names.layers.forEach((layer, l) => {
    const experts = layer.experts;
    if (experts?.layout === 'gpt-oss') throw gptOssUnsupported(experts.gateUp, 'pruning');
    if (experts) {
      const routed = { layer: l, layerGroup: 2 * l };
      for (let e = 0; e < E; e++) {
        for (const projection of ['gate', 'up'] as const) {
          const shape = { rows: I, cols: H, projection, expert: e, ...routed };
          if (experts.layout === 'fused') {
            add({ ...shape, tensor: experts.gateUp, elementOffset: (2 * e + (projection === 'up' ? 1 : 0)) * I * H });
          } else {
            add({ ...shape, tensor: experts[projection][e], elementOffset: 0 });
          }
        }
      }
      for (let e = 0; e < E; e++) {
        const shape = { rows: H, cols: I, projection: 'down' as const, expert: e, ...routed };
        if (experts.layout === 'fused') add({ ...shape, tensor: experts.down, elementOffset: e * H * I });
        else add({ ...shape, tensor: experts.down[e], elementOffset: 0 });
      }
    }
    if (layer.shared && spec.sharedExpert) {
      const S = spec.sharedExpert.ffnSize;
      const shared = { layer: l, layerGroup: 2 * l + 1, expert: 'shared' as const, elementOffset: 0 };
      add({ ...shared, projection: 'gate', rows: S, cols: H, tensor: layer.shared.gate });
      add({ ...shared, projection: 'up', rows: S, cols: H, tensor: layer.shared.up });
      add({ ...shared, projection: 'down', rows: H, cols: S, tensor: layer.shared.down });
    }
  });
  return out;
}
