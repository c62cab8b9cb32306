/**
 * A quantized model (src/engine/quantize/quantized-matrix.ts) as a GPTQ checkpoint folder (docs/quantization.md,
 * "GPTQ checkpoint layout"): config.json with `quantization_config` (quant_method "gptq", the base bits and
 * group_size, sym true, desc_act false, checkpoint_format "gptq" (v1), `modules_in_block_to_quantize`, and
 * GPTQModel's `dynamic` map for everything that differs from the base: "-:" rules for the Linears inside the decoder
 * blocks that stay unquantized, "+:" rules with bits / group_size for mixed precision), one model.safetensors, and
 * the tokenizer and generation files copied.
 *
 * Every quantized Linear `{module}.weight` becomes `{module}.qweight` / `qzeros` / `scales` (F16) / `g_idx`
 * (gptq-layout.ts); its bias and every other tensor are written with the input's name, dtype and bytes.
 * GPTQ quantizes nn.Linear modules, and fused expert tensors (transformers 5's `experts.gate_up_proj` [E, 2I, H] /
 * `experts.down_proj` [E, H, I]) are not Linears: they are written per expert under the names the hub checkpoints
 * and vLLM's MoE loaders use, `{prefix}.experts.{e}.w1|w3|w2` for Mixtral and PhiMoE and
 * `{prefix}.experts.{e}.gate_proj|up_proj|down_proj` otherwise (prefix = where the fused tensor lives), whether or
 * not each expert is quantized. GraniteMoE's and gpt_oss's experts have no per-expert Linear form in those loaders
 * and are refused.
 */
import { ModelFileError } from '../errors.ts';
import { f32ToF16Bits } from '../io/dtype-encoding.ts';
import { DTYPE_BYTES, writeSafetensors, type Dtype } from '../io/safetensors.ts';
import { readTensorRaw, type Checkpoint } from '../model/checkpoint.ts';
import type { GptqOverride, GptqQuantizationConfig } from '../model/gptq-checkpoint.ts';
import type { QuantizedModel, QuantizedModelMatrix } from '../quantize/quantized-matrix.ts';
import { packGptqLinear, type GptqCheckpointFormat } from './gptq-layout.ts';
import { COPIED_FILES, copiedEntry, type ExportEntry, type SourceHashes } from './hf-folder.ts';

/** The `quantization_config` the export writes (the keys the lab reads, plus what other loaders look for). */
export interface GptqExportConfig extends GptqQuantizationConfig {
  /** transformers 5's name for checkpoint_format. */
  format: GptqCheckpointFormat;
  /** Module names inside a decoder block that are quantized (optimum's and vLLM's list of lists). */
  modules_in_block_to_quantize: string[][];
  /** GPTQModel / vLLM: whether lm_head is quantized. */
  lm_head: false;
  meta: { quantizer: string[]; method: string };
}

interface OutTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: Uint8Array;
}

/** The decoder-block prefix of a module name (`model.layers.3.`), its layer and the rest. */
const BLOCK = /^model\.layers\.(\d+)\.(.+)$/;

/** A regular expression matching exactly `text` (Python `re` and JS agree on these escapes). */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The per-expert Linear names of expert `e` of a fused expert tensor `tensor` (`{prefix}.experts.gate_up_proj`). */
function perExpertModules(checkpoint: Checkpoint, tensor: string, e: number): { gate: string; up: string; down: string } {
  const at = tensor.lastIndexOf('.experts.');
  if (at < 0) throw new ModelFileError(checkpoint.folder.name, 'unsupported', `fused expert tensor ${tensor} has no per-expert Linear form for GPTQ`);
  const prefix = `${tensor.slice(0, at)}.experts.${e}`;
  const mixtralNames = checkpoint.spec.architecture === 'mixtral' || checkpoint.spec.architecture === 'phimoe';
  const [gate, up, down] = mixtralNames ? ['w1', 'w3', 'w2'] : ['gate_proj', 'up_proj', 'down_proj'];
  return { gate: `${prefix}.${gate}`, up: `${prefix}.${up}`, down: `${prefix}.${down}` };
}

/** The four GPTQ tensors of one quantized Linear. */
function gptqTensors(module: string, m: QuantizedModelMatrix, format: GptqCheckpointFormat): OutTensor[] {
  const { rows: out, cols: inFeatures, bits, groupSize } = m.matrix;
  const t = packGptqLinear(m.matrix, format, f32ToF16Bits);
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  return [
    { name: `${module}.g_idx`, dtype: 'I32', shape: [inFeatures], data: bytes(t.gIdx) },
    { name: `${module}.qweight`, dtype: 'I32', shape: [(inFeatures * bits) / 32, out], data: bytes(t.qweight) },
    { name: `${module}.qzeros`, dtype: 'I32', shape: [inFeatures / groupSize, (out * bits) / 32], data: bytes(t.qzeros) },
    { name: `${module}.scales`, dtype: 'F16', shape: [inFeatures / groupSize, out], data: bytes(t.scales) },
  ];
}

/** Quantized Linear module name -> its settings, and every block Linear left unquantized. */
interface ModulePlan {
  quantized: Map<string, { bits: number; groupSize: number; elements: number }>;
  unquantized: string[];
}

/**
 * quantization_config for the modules of `plan`: the base (bits, group size) is the one covering the most weights;
 * "-:" rules (first, so they win) exclude unquantized block Linears, by suffix across layers where no layer
 * quantizes that suffix, else by exact name; "+:" rules give the other modules their own bits and group size.
 */
export function gptqConfig(plan: ModulePlan, quantized: QuantizedModel, format: GptqCheckpointFormat): GptqExportConfig {
  const weightOf = new Map<string, number>();
  for (const q of plan.quantized.values()) weightOf.set(`${q.bits}/${q.groupSize}`, (weightOf.get(`${q.bits}/${q.groupSize}`) ?? 0) + q.elements);
  const base = [...weightOf].sort((a, b) => b[1] - a[1])[0];
  if (!base) throw new RangeError('the quantized model has no quantized matrices');
  const [bits, groupSize] = base[0].split('/').map(Number);
  const suffixOf = (module: string) => BLOCK.exec(module)?.[2] ?? null;
  const quantizedSuffixes = new Set([...plan.quantized.keys()].map(suffixOf).filter((s): s is string => s !== null));
  const dynamic: Record<string, GptqOverride> = {};
  for (const module of plan.unquantized) {
    const suffix = suffixOf(module)!;
    const pattern = quantizedSuffixes.has(suffix) ? `-:^${literal(module)}$` : `-:^model\\.layers\\.\\d+\\.${literal(suffix)}$`;
    dynamic[pattern] = {};
  }
  for (const [module, q] of plan.quantized) {
    if (q.bits !== bits || q.groupSize !== groupSize) dynamic[`+:^${literal(module)}$`] = { bits: q.bits, group_size: q.groupSize };
  }
  return {
    quant_method: 'gptq',
    bits,
    group_size: groupSize,
    sym: true,
    desc_act: false,
    checkpoint_format: format,
    format,
    dynamic,
    modules_in_block_to_quantize: [[...quantizedSuffixes]],
    lm_head: false,
    meta: { quantizer: ['moe-lab'], method: quantized.method },
  };
}

/** model.safetensors of the GPTQ export and the module plan its config describes. */
async function gptqTensorsOf(
  checkpoint: Checkpoint,
  quantized: QuantizedModel,
  format: GptqCheckpointFormat,
): Promise<{ tensors: OutTensor[]; plan: ModulePlan }> {
  const { spec, names } = checkpoint;
  const byPlace = new Map(quantized.matrices.map((m) => [`${m.tensor}@${m.elementOffset}`, m]));
  const used = new Set<QuantizedModelMatrix>();
  const plan: ModulePlan = { quantized: new Map(), unquantized: [] };
  const tensors: OutTensor[] = [];
  const fused = new Map<string, { layer: number; key: 'gateUp' | 'down' }>();
  names.layers.forEach((layer, l) => {
    const x = layer.experts;
    if (x?.layout === 'gpt-oss' || (x?.layout === 'fused' && spec.architecture === 'granitemoe')) {
      throw new ModelFileError(checkpoint.folder.name, 'unsupported', `${spec.architecture} experts have no per-expert Linear form that GPTQ loaders read`);
    }
    if (x?.layout === 'fused') {
      fused.set(x.gateUp, { layer: l, key: 'gateUp' });
      fused.set(x.down, { layer: l, key: 'down' });
    }
  });
  /** A Linear [rows, cols] at `tensor`'s element `offset`: quantized when the model lists it, else its stored slice. */
  const linear = (module: string, tensor: string, offset: number, rows: number, cols: number, dtype: Dtype, bytes: Uint8Array) => {
    const q = byPlace.get(`${tensor}@${offset}`);
    if (q) {
      if (q.matrix.rows !== rows || q.matrix.cols !== cols) {
        throw new RangeError(`quantized ${q.label} is [${q.matrix.rows}, ${q.matrix.cols}] but ${module} is [${rows}, ${cols}]`);
      }
      used.add(q);
      plan.quantized.set(module, { bits: q.matrix.bits, groupSize: q.matrix.groupSize, elements: rows * cols });
      tensors.push(...gptqTensors(module, q, format));
      return;
    }
    if (BLOCK.test(module)) plan.unquantized.push(module);
    const size = DTYPE_BYTES[dtype];
    tensors.push({ name: `${module}.weight`, dtype, shape: [rows, cols], data: bytes.subarray(offset * size, (offset + rows * cols) * size) });
  };
  const stored = [...checkpoint.tensors.values()].sort((a, b) => a.source.name.localeCompare(b.source.name) || a.info.byteOffset - b.info.byteOffset);
  for (const { info } of stored) {
    const { bytes } = await readTensorRaw(checkpoint, info.name);
    const place = fused.get(info.name);
    if (place) {
      const { numExperts: E, expertFfnSize: I, hiddenSize: H } = spec;
      for (let e = 0; e < E; e++) {
        const modules = perExpertModules(checkpoint, info.name, e);
        if (place.key === 'gateUp') {
          linear(modules.gate, info.name, 2 * e * I * H, I, H, info.dtype, bytes);
          linear(modules.up, info.name, (2 * e + 1) * I * H, I, H, info.dtype, bytes);
        } else linear(modules.down, info.name, e * H * I, H, I, info.dtype, bytes);
      }
    } else if (info.name.endsWith('.weight') && info.shape.length === 2 && !info.name.startsWith('model.embed_tokens')) {
      linear(info.name.slice(0, -'.weight'.length), info.name, 0, info.shape[0], info.shape[1], info.dtype, bytes);
    } else {
      tensors.push({ name: info.name, dtype: info.dtype, shape: info.shape, data: bytes });
    }
  }
  const unused = quantized.matrices.filter((m) => !used.has(m));
  if (unused.length) {
    throw new RangeError(
      `quantized ${unused[0].label} (${unused[0].tensor} at element ${unused[0].elementOffset}) is not a Linear of ${checkpoint.folder.name}`,
    );
  }
  return { tensors, plan };
}

/**
 * The files of the GPTQ export of `quantized` (made from `checkpoint`), in writing order: config.json, the copied
 * tokenizer and generation files, model.safetensors. Input hashes land in `sources` as files are read.
 */
export async function gptqModelEntries(
  checkpoint: Checkpoint,
  quantized: QuantizedModel,
  sources: SourceHashes,
  format: GptqCheckpointFormat = 'gptq',
): Promise<ExportEntry[]> {
  if (checkpoint.gptq)
    throw new ModelFileError(checkpoint.folder.name, 'unsupported', 'the model is a GPTQ checkpoint already; quantize its unquantized original');
  // Built once, when the first entry that needs it is written (config.json needs the module plan the tensors give).
  let built: Promise<{ tensors: OutTensor[]; plan: ModulePlan }> | null = null;
  const build = () => (built ??= gptqTensorsOf(checkpoint, quantized, format));
  const jsonBytes = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
  const entries: ExportEntry[] = [
    {
      path: 'config.json',
      async *chunks() {
        const { plan } = await build();
        yield jsonBytes({ ...checkpoint.config, quantization_config: gptqConfig(plan, quantized, format) });
      },
    },
  ];
  for (const path of COPIED_FILES) if (await checkpoint.folder.open(path)) entries.push(copiedEntry(checkpoint, path, sources));
  entries.push({
    path: 'model.safetensors',
    async *chunks() {
      const { tensors } = await build();
      yield writeSafetensors(tensors, { format: 'pt' });
    },
  });
  return entries;
}
