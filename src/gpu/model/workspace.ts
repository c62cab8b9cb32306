/**
 * Activation buffers of one forward shape: B windows of S tokens (T = B * S), reused by every layer. Layers run
 * one after another inside one command buffer, so one set serves them all; debug taps copy out of them.
 */
import type { MoeModelSpec } from '../../engine/model/spec.ts';
import type { GpuContext } from '../context.ts';
import { beyondLimits } from '../errors.ts';
import { tokenBitmapBytes } from '../kernels/moe/dispatch_count.ts';
import { maxExpertTiles } from '../kernels/moe/dispatch_plan.ts';
import { GEMM_TILE } from '../kernels/nn/matmul.ts';
import { ropeCosSinTable } from '../kernels/nn/rope.ts';
import { ropeFrequencies } from '../../engine/model/rope.ts';

/** Bytes per token of the largest activation buffer, the one that bounds T under maxStorageBufferBindingSize. */
export function largestBytesPerToken(spec: MoeModelSpec): number {
  const { hiddenSize: H, topK: K, expertFfnSize: I, numHeads, numKvHeads, headDim: D } = spec;
  const mla = spec.mla ? [numHeads * (spec.mla.qkNopeDim + spec.mla.vDim), spec.mla.kvLoraRank + spec.mla.qkRopeDim, spec.mla.qLoraRank ?? 0] : [];
  return 4 * Math.max(K * H, K * I, numHeads * D, numKvHeads * D, H, spec.denseFfnSize, spec.sharedExpert?.ffnSize ?? 0, ...mla);
}

/** Most tokens one forward pass can take without an activation buffer passing `maxBindingBytes`. */
export function maxTokensPerPass(spec: MoeModelSpec, maxBindingBytes: number): number {
  return Math.floor(maxBindingBytes / largestBytesPerToken(spec));
}

/** Rows of logits computed at once: [rows, V] f32 stays within `maxBytes` (a multiple of the matmul tile). */
export function logitRowsPerChunk(vocab: number, tokens: number, maxBytes: number): number {
  const rows = Math.max(GEMM_TILE, Math.floor(maxBytes / (vocab * 4) / GEMM_TILE) * GEMM_TILE);
  return Math.min(rows, tokens);
}

/** At most this much of one logits chunk, even where the binding limit allows more (memory, not speed). */
const LOGITS_CHUNK_BYTES = 64 * 2 ** 20;

export class Workspace {
  readonly tokens: number; // T
  readonly ids: GPUBuffer; // [T] u32
  readonly targets: GPUBuffer; // [T] u32 next-token ids (NO_TARGET at window ends)
  readonly hidden: GPUBuffer; // [T, H] the residual stream between layers
  readonly hiddenMid: GPUBuffer; // [T, H] the residual stream between attention and FFN
  readonly normed: GPUBuffer; // [T, H] a norm's output: attention input, then MoE input
  readonly qProj: GPUBuffer; // [T, Hq * D] before the q norm
  readonly kProj: GPUBuffer; // [T, Hkv * D] before the k norm
  readonly q: GPUBuffer; // [T, Hq * D]
  readonly k: GPUBuffer; // [T, Hkv * D]
  readonly v: GPUBuffer; // [T, Hkv * D]
  readonly context: GPUBuffer; // [T, Hq * D] attention output, the o projection's input
  readonly branch: GPUBuffer; // [T, H] attention or FFN output before the residual add
  /** Multi-head latent attention's intermediates (spec.mla), else null. */
  readonly mla: {
    qA: GPUBuffer | null; // [T, rq] q LoRA down projection, then its norm in qANormed
    qANormed: GPUBuffer | null; // [T, rq]
    kvA: GPUBuffer; // [T, r + dr] kv_a_proj_with_mqa output; the rope part rotates in place
    latent: GPUBuffer; // [T, r] its first r, then normed in latentNormed
    latentNormed: GPUBuffer; // [T, r]
    kv: GPUBuffer; // [T, Hq, dn + dv] kv_b_proj output
    context: GPUBuffer; // [T, Hq * dv] the v part of each head of `context`, the o projection's input
  } | null;
  readonly ropeTable: GPUBuffer; // [S, rotaryDim / 2] (cos, sin)
  // MoE
  readonly routerLogits: GPUBuffer; // [T, E]
  readonly expertIds: GPUBuffer; // [T, K] u32
  readonly gates: GPUBuffer; // [T, K] f32
  readonly expertCounts: GPUBuffer; // [E] u32
  readonly tokenBits: GPUBuffer; // [E, ceil(T / 32)] u32: the tokens routed to each expert (moe/dispatch_count)
  readonly expertOffsets: GPUBuffer; // [E + 1] u32
  readonly tiles: GPUBuffer; // [1 + 2 * maxTiles] u32
  readonly maxTiles: number;
  readonly sortedRows: GPUBuffer; // [T * K] u32
  readonly rowOfSlot: GPUBuffer; // [T * K] u32
  readonly inter: GPUBuffer; // [T * K, I] (also the dense FFN's [T, W])
  readonly expertOut: GPUBuffer; // [T * K, H] (also the dense FFN's output)
  readonly sharedInter: GPUBuffer | null; // [T, S_shared]
  readonly sharedOut: GPUBuffer | null; // [T, H]
  readonly sharedGateLogit: GPUBuffer | null; // [T]
  // LM head
  readonly logitRows: number; // rows per logits chunk (0 without the head)
  private readonly logitsBuffer: GPUBuffer | null; // [logitRows, V]
  readonly nll: GPUBuffer; // [T]
  private readonly buffers: GPUBuffer[] = [];

  constructor(
    ctx: GpuContext,
    readonly spec: MoeModelSpec,
    readonly windows: number, // B
    readonly seqLen: number, // S
    /** false: embedding and layers only (calibration), no logits chunk, which is up to 64 MiB of a GPU memory budget. */
    readonly head = true,
  ) {
    const T = windows * seqLen;
    this.tokens = T;
    const { hiddenSize: H, numHeads, numKvHeads, headDim: D, numExperts: E, topK: K, expertFfnSize: I, vocabSize: V } = spec;
    const limit = ctx.caps.limits.maxStorageBufferBindingSize;
    const perToken = largestBytesPerToken(spec);
    if (T * perToken > limit) {
      throw beyondLimits(`a forward pass of ${windows} x ${seqLen} tokens (activations)`, T * perToken, limit, 'maxStorageBufferBindingSize');
    }
    const make = (label: string, bytes: number) => {
      const buffer = ctx.createBuffer(`forward ${label}`, bytes);
      this.buffers.push(buffer);
      return buffer;
    };
    const f32 = 4;
    this.ids = make('ids', T * 4);
    this.targets = make('targets', T * 4);
    this.hidden = make('hidden', T * H * f32);
    this.hiddenMid = make('hidden mid', T * H * f32);
    this.normed = make('normed', T * H * f32);
    const hasQkNorm = spec.qkNorm !== 'none';
    this.q = make('q', T * numHeads * D * f32);
    this.k = make('k', T * numKvHeads * D * f32);
    this.qProj = hasQkNorm ? make('q proj', T * numHeads * D * f32) : this.q;
    this.kProj = hasQkNorm ? make('k proj', T * numKvHeads * D * f32) : this.k;
    this.v = make('v', T * numKvHeads * D * f32);
    this.context = make('context', T * numHeads * D * f32);
    this.branch = make('branch', T * H * f32);
    const mla = spec.mla;
    // q, k and v are [T, Hq, D] (D = dn + dr); v's last D - dv dims of each head stay zero (never written).
    this.mla = mla
      ? {
          qA: mla.qLoraRank ? make('mla q a', T * mla.qLoraRank * f32) : null,
          qANormed: mla.qLoraRank ? make('mla q a normed', T * mla.qLoraRank * f32) : null,
          kvA: make('mla kv a', T * (mla.kvLoraRank + mla.qkRopeDim) * f32),
          latent: make('mla latent', T * mla.kvLoraRank * f32),
          latentNormed: make('mla latent normed', T * mla.kvLoraRank * f32),
          kv: make('mla kv', T * numHeads * (mla.qkNopeDim + mla.vDim) * f32),
          context: make('mla context', T * numHeads * mla.vDim * f32),
        }
      : null;
    this.ropeTable = make('rope table', ((seqLen * spec.rope.rotaryDim) / 2) * 2 * f32);
    ctx.write(this.ropeTable, ropeCosSinTable(seqLen, ropeFrequencies(spec)));

    this.routerLogits = make('router logits', T * E * f32);
    this.expertIds = make('expert ids', T * K * 4);
    this.gates = make('gates', T * K * f32);
    this.expertCounts = make('expert counts', E * 4);
    this.tokenBits = make('expert token bitmaps', tokenBitmapBytes(T, E));
    this.expertOffsets = make('expert offsets', (E + 1) * 4);
    this.maxTiles = maxExpertTiles(T * K, E);
    this.tiles = make('expert tiles', (1 + 2 * this.maxTiles) * 4);
    this.sortedRows = make('sorted rows', T * K * 4);
    this.rowOfSlot = make('row of slot', T * K * 4);
    this.inter = make('expert inter', T * Math.max(K * I, spec.denseFfnSize) * f32);
    this.expertOut = make('expert out', T * K * H * f32);
    const shared = spec.sharedExpert;
    this.sharedInter = shared ? make('shared inter', T * shared.ffnSize * f32) : null;
    this.sharedOut = shared ? make('shared out', T * H * f32) : null;
    this.sharedGateLogit = shared?.gated ? make('shared gate logit', T * f32) : null;

    this.logitRows = head ? logitRowsPerChunk(V, T, Math.min(limit, LOGITS_CHUNK_BYTES)) : 0;
    this.logitsBuffer = head ? make('logits', this.logitRows * V * f32) : null;
    this.nll = make('nll', T * f32);
  }

  get logits(): GPUBuffer {
    if (!this.logitsBuffer) throw new Error('forward: this pass was built without the LM head (head: false), so it has no logits');
    return this.logitsBuffer;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
  }
}
