/**
 * All weights of a checkpoint as f32 arrays in the engine's canonical layout (experts stacked: gate_up [E, 2I, H]
 * with gate rows first, down [E, H, I]), for the CPU reference. Meant for small models: it holds everything in
 * memory at f32.
 */
import { readTensorF32, type Checkpoint } from '../model/checkpoint.ts';
import { readGptOssExperts } from '../model/expert-layout.ts';
import type { MoeModelSpec } from '../model/spec.ts';
import type { FfnNames, LinearNames, NormNames } from '../model/weights.ts';

export interface RefNorm {
  weight: Float32Array;
  bias: Float32Array | null;
}

export interface RefLinear {
  weight: Float32Array; // [out, in]
  bias: Float32Array | null; // [out]
}

/** A SwiGLU FFN in canonical form: gateUp [2I, H] (gate rows first), down [H, I]. */
export interface RefFfn {
  gateUp: Float32Array;
  down: Float32Array;
  width: number; // I
}

/** Multi-head latent attention's weights (see MlaNames). */
export interface RefMla {
  qA: RefLinear | null; // [rq, H]
  qANorm: Float32Array | null; // [rq]
  qB: Float32Array | null; // [Hq*D, rq]
  kvA: RefLinear; // [r + dr, H]
  kvANorm: Float32Array; // [r]
  kvB: Float32Array; // [Hq*(dn + dv), r]
}

export interface RefLayer {
  inputNorm: RefNorm;
  postAttentionNorm: RefNorm;
  q: RefLinear | null; // null under MLA with a q LoRA
  k: RefLinear | null; // null under MLA
  v: RefLinear | null;
  o: RefLinear;
  mla: RefMla | null;
  qNorm: Float32Array | null;
  kNorm: Float32Array | null;
  /** MoE layers */
  router: Float32Array | null; // [E, H]
  gateUp: Float32Array | null; // [E, 2I, H]
  down: Float32Array | null; // [E, H, I]
  shared: RefFfn | null;
  sharedGate: Float32Array | null; // [1, H]
  correctionBias: Float32Array | null; // [E], selection only
  /** gpt_oss: router bias [E], expert biases gate_up [E, 2I] (gate then up, as gateUp) and down [E, H], sinks [Hq]. */
  routerBias: Float32Array | null;
  gateUpBias: Float32Array | null;
  downBias: Float32Array | null;
  sinks: Float32Array | null;
  /** dense layers */
  dense: RefFfn | null;
  /** Expert-level pruning: [E], 0 = dropped (its router logit counts as -inf). Null: all enabled. */
  expertEnabled: Uint8Array | null;
  /** Steering: every token routed to this expert alone with gate 1 (src/engine/model/steering.ts). Null: the router decides. */
  forcedExpert: number | null;
}

export interface ReferenceWeights {
  spec: MoeModelSpec;
  embedding: Float32Array; // [V, H]
  finalNorm: RefNorm;
  lmHead: RefLinear; // the embedding itself when tied
  layers: RefLayer[];
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function loadReferenceWeights(checkpoint: Checkpoint): Promise<ReferenceWeights> {
  const read = (name: string) => readTensorF32(checkpoint, name);
  const maybe = (name: string | null) => (name ? read(name) : Promise.resolve(null));
  const norm = async (n: NormNames): Promise<RefNorm> => ({ weight: await read(n.weight), bias: await maybe(n.bias) });
  const linear = async (n: LinearNames): Promise<RefLinear> => ({ weight: await read(n.weight), bias: await maybe(n.bias) });
  const maybeLinear = (n: LinearNames | null) => (n ? linear(n) : Promise.resolve(null));
  const ffn = async (n: FfnNames, width: number): Promise<RefFfn> => ({
    gateUp: concat([await read(n.gate), await read(n.up)]),
    down: await read(n.down),
    width,
  });
  const { spec, names } = checkpoint;
  const layers: RefLayer[] = [];
  for (const n of names.layers) {
    let gateUp: Float32Array | null = null;
    let down: Float32Array | null = null;
    let gateUpBias: Float32Array | null = null;
    let downBias: Float32Array | null = null;
    if (n.experts?.layout === 'gpt-oss') {
      ({ gateUp, down, gateUpBias, downBias } = await readGptOssExperts(checkpoint, layers.length));
    } else if (n.experts?.layout === 'fused') {
      gateUp = await read(n.experts.gateUp);
      down = await read(n.experts.down);
    } else if (n.experts) {
      const parts: Float32Array[] = [];
      for (let e = 0; e < spec.numExperts; e++) parts.push(await read(n.experts.gate[e]), await read(n.experts.up[e]));
      gateUp = concat(parts);
      down = concat(await Promise.all(n.experts.down.map(read)));
    }
    layers.push({
      inputNorm: await norm(n.inputNorm),
      postAttentionNorm: await norm(n.postAttentionNorm),
      q: await maybeLinear(n.q),
      k: await maybeLinear(n.k),
      v: await maybeLinear(n.v),
      o: await linear(n.o),
      mla: n.mla
        ? {
            qA: await maybeLinear(n.mla.qA),
            qANorm: await maybe(n.mla.qANorm),
            qB: await maybe(n.mla.qB),
            kvA: await linear(n.mla.kvA),
            kvANorm: await read(n.mla.kvANorm),
            kvB: await read(n.mla.kvB),
          }
        : null,
      qNorm: await maybe(n.qNorm),
      kNorm: await maybe(n.kNorm),
      router: await maybe(n.router),
      gateUp,
      down,
      shared: n.shared && spec.sharedExpert ? await ffn(n.shared, spec.sharedExpert.ffnSize) : null,
      sharedGate: await maybe(n.sharedGate),
      correctionBias: await maybe(n.correctionBias),
      routerBias: await maybe(n.routerBias),
      gateUpBias,
      downBias,
      sinks: await maybe(n.sinks),
      dense: n.dense ? await ffn(n.dense, spec.denseFfnSize) : null,
      expertEnabled: null,
      forcedExpert: null,
    });
  }
  const embedding = await read(names.embedding);
  return {
    spec,
    embedding,
    finalNorm: await norm(names.finalNorm),
    lmHead: names.lmHead ? await linear(names.lmHead) : { weight: embedding, bias: null },
    layers,
  };
}
