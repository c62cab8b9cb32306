/**
 * What a neuron pruning (src/engine/prune/neurons.ts) does to the exported folder: the routed experts' tensors keep
 * their names, layout (per-expert or fused) and dtype but lose the removed neurons — gate / up tensors their rows
 * (the dimension before H: [I, H] -> [I', H], fused [E, 2I, H] -> [E, 2I', H]), down tensors their columns (the
 * last dimension: [H, I] -> [H, I'], [E, H, I] -> [E, H, I']) — and config.json states I' under the family's expert
 * FFN size key (`moe_intermediate_size` where the config has one, else `intermediate_size`), no other key changed.
 * Stored expert tensors are byte copies of canonical ranges (tensor-plan.ts), so a stored element is kept exactly
 * when its canonical element belongs to a kept neuron.
 */
import { normalizeConfig } from '../model/config.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { NeuronStructure } from '../prune/neurons.ts';
import type { ExportedTensor, Segment } from './tensor-plan.ts';

/** Runs [start, length) of a segment's elements (relative to the segment) that stay; null: the segment is not a routed expert's. */
export function keptRuns(segment: Segment, spec: MoeModelSpec, structure: NeuronStructure): [number, number][] | null {
  const c = segment.canonical;
  if (!c || (c.key !== 'experts.gate_up' && c.key !== 'experts.down')) return null;
  const { expertFfnSize: I, hiddenSize: H } = spec;
  const kept = structure.kept.get(c.layer);
  if (!kept) throw new RangeError(`layer ${c.layer}: the neuron structure has no entry`);
  const runs: [number, number][] = [];
  const push = (start: number, length: number) => {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === start) last[1] += length;
    else runs.push([start, length]);
  };
  for (let i = 0; i < segment.count;) {
    const at = c.start + i;
    if (c.key === 'experts.gate_up') {
      // A row of H elements: gate rows e*2I + n, up rows e*2I + I + n.
      const row = Math.floor(at / H);
      const e = Math.floor(row / (2 * I));
      const n = (row % (2 * I)) % I;
      const length = Math.min(H - (at % H), segment.count - i);
      if (kept[e][n]) push(i, length);
      i += length;
    } else {
      const e = Math.floor(at / (H * I));
      if (kept[e][at % I]) push(i, 1);
      i += 1;
    }
  }
  return runs;
}

/** Elements an exported tensor keeps. */
export function exportedElements(out: ExportedTensor, spec: MoeModelSpec, structure: NeuronStructure | null): number {
  let n = 0;
  for (const s of out.segments) {
    const runs = structure ? keptRuns(s, spec, structure) : null;
    n += runs ? runs.reduce((a, r) => a + r[1], 0) : s.count;
  }
  return n;
}

/** The exported tensor with its shape shrunk to the kept neurons (unchanged when no segment is a routed expert's). */
export function neuronTensor(out: ExportedTensor, spec: MoeModelSpec, structure: NeuronStructure): ExportedTensor {
  const key = out.segments.find((s) => s.canonical)?.canonical?.key;
  if (key !== 'experts.gate_up' && key !== 'experts.down') return out;
  const I = spec.expertFfnSize;
  const shape = [...out.shape];
  const dim = key === 'experts.gate_up' ? shape.length - 2 : shape.length - 1;
  if (dim < 0 || shape[dim] % I !== 0) throw new RangeError(`${out.name}: shape [${out.shape.join(', ')}] has no expert FFN dimension (a multiple of ${I})`);
  shape[dim] = (shape[dim] / I) * structure.ffn;
  const elements = exportedElements(out, spec, structure);
  if (shape.reduce((a, b) => a * b, 1) !== elements) throw new RangeError(`${out.name}: ${elements} kept elements do not fill the shape [${shape.join(', ')}]`);
  return { ...out, shape };
}

/** The kept elements of a segment's bytes (element size `size`). */
export function keptBytes(bytes: Uint8Array, size: number, runs: readonly [number, number][]): Uint8Array {
  const out = new Uint8Array(runs.reduce((a, r) => a + r[1], 0) * size);
  let at = 0;
  for (const [start, length] of runs) {
    out.set(bytes.subarray(start * size, (start + length) * size), at);
    at += length * size;
  }
  return out;
}

/** The config key that states the routed experts' FFN size: moe_intermediate_size where present, else intermediate_size. */
export function expertFfnKey(config: Record<string, unknown>): 'moe_intermediate_size' | 'intermediate_size' {
  return config.moe_intermediate_size != null ? 'moe_intermediate_size' : 'intermediate_size';
}

/**
 * config.json with the expert FFN size set to `ffn` and nothing else; refused (RangeError) when that key also
 * sizes something else of the model (a dense MLP, shared experts), checked by reading the new config back.
 */
export function neuronConfig(config: Record<string, unknown>, spec: MoeModelSpec, ffn: number): Record<string, unknown> {
  const key = expertFfnKey(config);
  const out = { ...config, [key]: ffn };
  const reread = normalizeConfig('config.json', out as Parameters<typeof normalizeConfig>[1]);
  if (JSON.stringify({ ...reread, expertFfnSize: spec.expertFfnSize }) !== JSON.stringify(spec))
    throw new RangeError(`config.json: ${key} = ${ffn} would change more of this ${spec.architecture} model than its routed experts' FFN size`);
  return out;
}
