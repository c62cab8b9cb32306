/**
 * Where every stored tensor of a checkpoint lies in the engine's canonical matrices, and what it becomes in a
 * pruned export — the inverse of the upload layout (src/engine/model/expert-layout.ts, gpu-model.ts):
 * - routed experts: per-expert tensors (`experts.{e}.w1|w3|w2`, `...gate_proj|up_proj|down_proj`) are each one
 *   expert's gate / up / down inside experts.gate_up [E, 2I, H] / experts.down [E, H, I]; fused tensors
 *   (transformers 5 `experts.gate_up_proj` / `down_proj`, GraniteMoE `input_linear` / `output_linear`) hold all E
 *   experts one after another, exactly in canonical order;
 * - the router [E, H]: row e belongs to expert e (never pruned, but rows of dropped experts are removed);
 * - attention q/k/v/o: the whole tensor is canonical attn.q|k|v|o;
 * - the shared expert: gate = shared.gate_up rows [0, S), up = rows [S, 2S), down = shared.down.
 * Everything else (embeddings, norms, biases, LM head, dense MLPs, Qwen's shared_expert_gate) is copied as is.
 *
 * Segments tile a tensor front to back in stored order, so an export can stream it piece by piece.
 */
import type { TensorInfo } from '../io/safetensors.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { DTYPE_BYTES } from '../io/safetensors.ts';
import { planCanonicalExperts, type GptOssStoredMatrix } from '../model/expert-layout.ts';
import { mxfp4Names } from '../model/weights.ts';
import type { MatrixKey } from '../model/mask-set.ts';

/** Stored elements [start, start + count) of a tensor and where they are in the canonical matrices. */
export interface Segment {
  start: number;
  count: number;
  /**
   * Canonical matrix and first element there, for prunable weights; null for the router and copied tensors.
   * `gptOss`: the segment is one gpt_oss expert's stored matrix, which maps element by element (not in one run).
   */
  canonical: { layer: number; key: MatrixKey; start: number; gptOss?: GptOssStoredMatrix } | null;
  /** The routed expert the elements belong to (removed with it when it is dropped), or null. */
  expert: { layer: number; index: number } | null;
}

export interface TensorLayout {
  name: string;
  /** How the export may reshape it when experts are dropped. */
  kind: 'per-expert' | 'fused-experts' | 'router' | 'other';
  segments: Segment[];
}

function whole(info: TensorInfo, canonical: Segment['canonical'], expert: Segment['expert'] = null): Segment[] {
  return [{ start: 0, count: info.byteLength / DTYPE_BYTES[info.dtype], canonical, expert }];
}

/** The layout of every model tensor of `checkpoint` that the pipeline can touch, by name (others: copied). */
export function prunableTensorLayouts(checkpoint: Checkpoint): Map<string, TensorLayout> {
  const { spec, names } = checkpoint;
  const out = new Map<string, TensorLayout>();
  const info = (name: string) => checkpoint.tensors.get(name)!.info;
  names.layers.forEach((n, l) => {
    if (!n.experts || !n.router) return;
    // Attention and shared expert only where the pipeline prunes them: MoE layers.
    for (const [proj, linear] of [
      ['q', n.q],
      ['k', n.k],
      ['v', n.v],
      ['o', n.o],
    ] as const) {
      if (!linear) continue; // MLA has no k/v (nor q under a q LoRA) projection
      out.set(linear.weight, { name: linear.weight, kind: 'other', segments: whole(info(linear.weight), { layer: l, key: `attn.${proj}`, start: 0 }) });
    }
    if (n.mla) {
      // Multi-head latent attention's projections: q_a_proj, q_b_proj (with a q LoRA), kv_a_proj_with_mqa, kv_b_proj.
      for (const [key, weight] of [
        ['attn.q_a', n.mla.qA?.weight ?? null],
        ['attn.q_b', n.mla.qB],
        ['attn.kv_a', n.mla.kvA.weight],
        ['attn.kv_b', n.mla.kvB],
      ] as const) {
        if (weight) out.set(weight, { name: weight, kind: 'other', segments: whole(info(weight), { layer: l, key, start: 0 }) });
      }
    }
    if (n.shared && spec.sharedExpert) {
      const S = spec.sharedExpert.ffnSize;
      const H = spec.hiddenSize;
      out.set(n.shared.gate, { name: n.shared.gate, kind: 'other', segments: whole(info(n.shared.gate), { layer: l, key: 'shared.gate_up', start: 0 }) });
      out.set(n.shared.up, { name: n.shared.up, kind: 'other', segments: whole(info(n.shared.up), { layer: l, key: 'shared.gate_up', start: S * H }) });
      out.set(n.shared.down, { name: n.shared.down, kind: 'other', segments: whole(info(n.shared.down), { layer: l, key: 'shared.down', start: 0 }) });
    }
    const H = spec.hiddenSize;
    // e_score_correction_bias [E]: one element per expert, removed with its expert.
    if (n.correctionBias) {
      out.set(n.correctionBias, {
        name: n.correctionBias,
        kind: 'router',
        segments: Array.from({ length: spec.numExperts }, (_, e) => ({ start: e, count: 1, canonical: null, expert: { layer: l, index: e } })),
      });
    }
    out.set(n.router, {
      name: n.router,
      kind: 'router',
      segments: Array.from({ length: spec.numExperts }, (_, e) => ({ start: e * H, count: H, canonical: null, expert: { layer: l, index: e } })),
    });
    if (n.experts.layout === 'gpt-oss') {
      // gpt_oss: one segment per expert in every expert tensor (matrices or their MXFP4 blocks and scales, biases),
      // so dropping removes an expert's slice; only the matrices (or blocks) are prunable.
      const x = n.experts;
      const { numExperts: E, expertFfnSize: I } = spec;
      const perExpert = (name: string, canonical: (e: number) => Segment['canonical'], kind: TensorLayout['kind'] = 'fused-experts') => {
        const count = info(name).byteLength / DTYPE_BYTES[info(name).dtype] / E;
        out.set(name, {
          name,
          kind,
          segments: Array.from({ length: E }, (_, e) => ({ start: e * count, count, canonical: canonical(e), expert: { layer: l, index: e } })),
        });
      };
      for (const [base, key, rows, cols] of [
        [x.gateUp, 'experts.gate_up', 2 * I, H],
        [x.down, 'experts.down', H, I],
      ] as const) {
        const gptOss: GptOssStoredMatrix = { format: x.format, interleaved: key === 'experts.gate_up', rows, cols };
        const canonical = (e: number) => ({ layer: l, key, start: e * rows * cols, gptOss });
        if (x.format === 'mxfp4') {
          perExpert(mxfp4Names(base).blocks, canonical);
          perExpert(mxfp4Names(base).scales, () => null);
        } else perExpert(base, canonical);
      }
      perExpert(x.gateUpBias, () => null);
      perExpert(x.downBias, () => null);
      if (n.routerBias) perExpert(n.routerBias, () => null, 'router');
      return;
    }
    const plan = planCanonicalExperts(checkpoint, l);
    const bytes = DTYPE_BYTES[plan.dtype];
    const matrix = spec.expertFfnSize * H * bytes; // one [I, H] or [H, I] matrix, in bytes
    for (const copy of plan.copies) {
      const name = copy.tensor.info.name;
      const index = copy.target === 'gateUp' ? Math.floor(copy.targetOffset / (2 * matrix)) : Math.floor(copy.targetOffset / matrix);
      const segment: Segment = {
        start: copy.sourceOffset / bytes,
        count: copy.byteLength / bytes,
        canonical: { layer: l, key: copy.target === 'gateUp' ? 'experts.gate_up' : 'experts.down', start: copy.targetOffset / bytes },
        expert: { layer: l, index },
      };
      const fused = n.experts.layout === 'fused';
      const layout = out.get(name) ?? { name, kind: fused ? 'fused-experts' : 'per-expert', segments: [] };
      layout.segments.push(segment);
      out.set(name, layout);
    }
  });
  for (const layout of out.values()) {
    layout.segments.sort((a, b) => a.start - b.start);
    let next = 0;
    for (const s of layout.segments) {
      // The copy plan tiles each stored tensor; a gap would leave stored bytes unexported.
      if (s.start !== next) throw new RangeError(`${layout.name}: segments do not tile the tensor (element ${s.start}, expected ${next})`);
      next += s.count;
    }
    const stored = info(layout.name);
    if (next !== stored.byteLength / DTYPE_BYTES[stored.dtype])
      throw new RangeError(`${layout.name}: segments cover ${next} elements of ${stored.byteLength / DTYPE_BYTES[stored.dtype]}`);
  }
  return out;
}

/** What a stored tensor becomes when the experts in `dropped` (per layer) are removed; null: removed whole. */
export interface ExportedTensor {
  name: string;
  shape: number[];
  /** The stored segments that go to the output, in order. */
  segments: Segment[];
}

/**
 * The exported form of tensor `info` (layout `layout`, or copied as is when undefined): dropped experts' segments
 * left out, a fused tensor's and the router's first dimension shrunk to E - r, per-expert tensors renamed to the
 * expert's new index (its rank among the kept experts of its layer).
 */
export function exportedTensor(info: TensorInfo, layout: TensorLayout | undefined, dropped: ReadonlyMap<number, readonly number[]>): ExportedTensor | null {
  const count = info.byteLength / DTYPE_BYTES[info.dtype];
  if (!layout) return { name: info.name, shape: info.shape, segments: [{ start: 0, count, canonical: null, expert: null }] };
  const isDropped = (s: Segment) => !!s.expert && (dropped.get(s.expert.layer) ?? []).includes(s.expert.index);
  const kept = layout.segments.filter((s) => !isDropped(s));
  if (kept.length === 0) return null;
  if (layout.kind === 'per-expert') {
    const { layer, index } = kept[0].expert!;
    const newIndex = index - (dropped.get(layer) ?? []).filter((e) => e < index).length;
    return { name: renameExpert(info.name, index, newIndex), shape: info.shape, segments: kept };
  }
  if (layout.kind === 'fused-experts' || layout.kind === 'router') {
    const removed = layout.segments.length - kept.length;
    return { name: info.name, shape: [info.shape[0] - removed, ...info.shape.slice(1)], segments: kept };
  }
  return { name: info.name, shape: info.shape, segments: kept };
}

/** `...experts.{from}.w1.weight` -> `...experts.{to}.w1.weight`. */
export function renameExpert(name: string, from: number, to: number): string {
  const marker = `.experts.${from}.`;
  const at = name.lastIndexOf(marker);
  if (at < 0) throw new RangeError(`tensor ${name} does not name expert ${from}`);
  return `${name.slice(0, at)}.experts.${to}.${name.slice(at + marker.length)}`;
}
