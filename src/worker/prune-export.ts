/**
 * The pruned model's files (ARCHITECTURE.md, `moe-lab prune --out`): a Hugging Face folder with the input's
 * config.json and tokenizer files copied, and every safetensors file byte for byte the input's — same header,
 * names, layout and dtype — with the pruned weights set to zero (SparseGPT: the kept weights updated too), plus
 * prune-report.json (method, settings, achieved sparsity per matrix, seed, source hashes). Also the masks alone
 * (masks.safetensors) and the report alone. Zeroing works in place on the stored bytes: canonical mask element i
 * maps back to a stored tensor through the same copy plan the upload used (expert-layout.ts).
 */
import type { OperationOptions } from '../api/engine.ts';
import { EngineError } from '../api/errors.ts';
import type { ExportFile, ExportRequest } from '../api/lab.ts';
import { planCanonicalExperts } from '../engine/model/expert-layout.ts';
import type { MaskSet, MatrixKey } from '../engine/model/masks.ts';
import { DTYPE_BYTES, writeSafetensors } from '../engine/io/safetensors.ts';
import type { Checkpoint, LocatedTensor } from '../engine/model/checkpoint.ts';
import { progressStep, type LabSession, type SessionMasks } from './lab-session.ts';
import { canonicalElements } from '../engine/prune/layer-plan.ts';

/** Stored elements [first, first + count) of `tensor` are canonical elements [canonicalStart, …) of `key`. */
interface Span {
  layer: number;
  key: MatrixKey;
  canonicalStart: number;
  tensor: LocatedTensor;
  first: number;
  count: number;
}

/** Every stored piece of every masked canonical matrix. */
function spans(checkpoint: Checkpoint, masks: MaskSet): Span[] {
  const out: Span[] = [];
  const { spec, names } = checkpoint;
  masks.layers.forEach((layer, l) => {
    if (!layer) return;
    const n = names.layers[l];
    const whole = (key: MatrixKey, name: string | undefined, canonicalStart = 0) => {
      const tensor = name ? checkpoint.tensors.get(name) : undefined;
      if (tensor) out.push({ layer: l, key, canonicalStart, tensor, first: 0, count: tensor.info.byteLength / DTYPE_BYTES[tensor.info.dtype] });
    };
    for (const key of Object.keys(layer.matrices) as MatrixKey[]) {
      switch (key) {
        case 'experts.gate_up':
        case 'experts.down':
          for (const copy of planCanonicalExperts(checkpoint, l).copies) {
            if ((copy.target === 'gateUp') !== (key === 'experts.gate_up')) continue;
            const size = DTYPE_BYTES[copy.tensor.info.dtype];
            out.push({ layer: l, key, canonicalStart: copy.targetOffset / size, tensor: copy.tensor, first: copy.sourceOffset / size, count: copy.byteLength / size });
          }
          break;
        case 'attn.q':
          whole(key, n.q.weight);
          break;
        case 'attn.k':
          whole(key, n.k.weight);
          break;
        case 'attn.v':
          whole(key, n.v.weight);
          break;
        case 'attn.o':
          whole(key, n.o.weight);
          break;
        case 'shared.gate_up':
          whole(key, n.shared?.gate);
          whole(key, n.shared?.up, canonicalElements(spec, 'shared.gate_up') / 2);
          break;
        case 'shared.down':
          whole(key, n.shared?.down);
          break;
      }
    }
  });
  return out;
}

/** Zeroes the pruned elements of one span in `file` (the whole safetensors file), and writes updated weights. */
function patch(file: Uint8Array, span: Span, mask: Uint32Array, updated: Uint8Array | null): void {
  const size = DTYPE_BYTES[span.tensor.info.dtype];
  const base = span.tensor.info.byteOffset + span.first * size;
  if (updated) file.set(updated.subarray(span.canonicalStart * size, (span.canonicalStart + span.count) * size), base);
  for (let i = 0; i < span.count; i++) {
    const c = span.canonicalStart + i;
    if (!((mask[c >>> 5] >>> (c & 31)) & 1)) file.fill(0, base + i * size, base + (i + 1) * size);
  }
}

/** The masks in force, or an error saying to prune first. */
function requireMasks(session: LabSession): SessionMasks {
  if (!session.masks) throw new EngineError({ kind: 'bad-request', message: 'Nothing is pruned yet: prune first, then export.' });
  return session.masks;
}

/** masks.safetensors: per layer and canonical matrix the keep-mask words (I32 bit patterns), and enabled experts. */
export function masksFile(session: LabSession, masks: SessionMasks, maskSet: MaskSet): ExportFile {
  const tensors: { name: string; dtype: 'I32'; shape: number[]; data: Uint8Array }[] = [];
  const metadata: Record<string, string> = {
    format: 'moe-lab-masks/1',
    layout: 'bit (i & 31) of word (i >> 5) over the canonical matrix, 1 = kept; words stored as I32 bit patterns',
    model_hash: session.loaded.summary.contentHash,
    method: masks.request.method,
  };
  maskSet.layers.forEach((layer, l) => {
    if (!layer) return;
    for (const [key, bits] of Object.entries(layer.matrices) as [MatrixKey, Uint32Array][]) {
      tensors.push({ name: `layers.${l}.${key}`, dtype: 'I32', shape: [bits.length], data: new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength) });
      metadata[`layers.${l}.${key}.elements`] = String(canonicalElements(session.loaded.summary.spec, key));
    }
    if (layer.expertEnabled) {
      const enabled = Int32Array.from(layer.expertEnabled);
      tensors.push({ name: `layers.${l}.expert_enabled`, dtype: 'I32', shape: [enabled.length], data: new Uint8Array(enabled.buffer) });
    }
  });
  return { path: 'masks.safetensors', bytes: writeSafetensors(tensors, metadata) };
}

/**
 * prune-report.json: the pipeline's report (method, every setting, seed, calibration, achieved sparsity per
 * matrix / layer / expert, dropped experts) with the source model and the page's text settings added.
 */
export function pruneReport(session: LabSession, masks: SessionMasks): ExportFile {
  const { summary } = session.loaded;
  const report = {
    ...masks.report,
    created: new Date().toISOString(),
    model: { name: summary.name, content_hash: summary.contentHash, architecture: summary.spec.architecture },
    page_request: masks.request,
  };
  return { path: 'prune-report.json', bytes: new TextEncoder().encode(`${JSON.stringify(report, null, 2)}\n`) };
}

/** Files of the input folder copied as they are, when present. */
const COPIED = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'model.safetensors.index.json'];

/** The pruned Hugging Face folder. */
async function modelFolder(session: LabSession, masks: SessionMasks, maskSet: MaskSet, options: OperationOptions): Promise<ExportFile[]> {
  const { checkpoint } = session.loaded;
  const files: ExportFile[] = [];
  for (const name of COPIED) {
    const source = await checkpoint.folder.open(name);
    if (source) files.push({ path: name, bytes: await source.read(0, await source.size()) });
  }
  const all = spans(checkpoint, maskSet);
  const updated = new Map<string, Uint8Array | null>();
  for (const [i, name] of checkpoint.files.entries()) {
    options.signal?.throwIfAborted();
    options.onProgress?.(progressStep('compute', `Writing ${name}`, i, checkpoint.files.length));
    const source = await checkpoint.folder.open(name);
    if (!source) throw new EngineError({ kind: 'model-file', message: `${checkpoint.folder.name}/${name}: file not found`, file: name });
    const bytes = await source.read(0, await source.size());
    for (const span of all) {
      if (span.tensor.source.name !== source.name) continue;
      const key = `${span.layer}.${span.key}`;
      if (!updated.has(key)) updated.set(key, await masks.updatedWeights(span.layer, span.key));
      patch(bytes, span, maskSet.layers[span.layer]!.matrices[span.key]!, updated.get(key)!);
    }
    files.push({ path: name, bytes });
  }
  files.push(pruneReport(session, masks));
  return files;
}

/** What the Export buttons download besides the statistics, and the folder (zip root) they go in. */
export async function prunedFiles(
  session: LabSession,
  kind: Exclude<ExportRequest['kind'], 'statistics'>,
  options: OperationOptions,
): Promise<{ folder: string; files: ExportFile[] }> {
  const masks = requireMasks(session);
  const folder = `${session.name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'model'}-${masks.request.method}-pruned`;
  switch (kind) {
    case 'masks':
      return { folder, files: [masksFile(session, masks, await masks.readMaskSet())] };
    case 'report':
      return { folder, files: [pruneReport(session, masks)] };
    case 'model':
      return { folder, files: await modelFolder(session, masks, await masks.readMaskSet(), options) };
  }
}
