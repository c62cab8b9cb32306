/**
 * Reading a GPTQ checkpoint (config.json `quantization_config.quant_method` = "gptq"; docs/quantization.md, "GPTQ
 * checkpoint layout"): every Linear stored as `qweight` / `qzeros` / `scales` / `g_idx` is presented to the rest of
 * the engine as its `weight` [out, in] in the checkpoint's weight dtype (the embedding's), dequantized on the CPU
 * when read (export/gptq-layout.ts) and rounded once to that dtype. That is what the lab's own quantized forward
 * reads (its dequantize kernel encodes into the model dtype) and what GPTQ kernels compute in f16; in an f32 model
 * an f16 scale times a small integer is exact. So a file the lab wrote reads back to the very weights the lab
 * evaluated, and the forward, calibration and pruning run on them unchanged.
 *
 * Per-module settings follow GPTQModel's `dynamic` map, as vLLM reads it: patterns in order, the first that matches
 * the module name (Python `re.match`: anchored at the start) decides; "-:pattern" means not quantized, "+:pattern"
 * (or a bare pattern) overrides `bits` / `group_size` of the base config. Each module's bits and group size are
 * also implied by its tensors' shapes, and the two must agree.
 */
import { ModelFileError } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { encodeWeights } from '../io/dtype-encoding.ts';
import { bytesToFloat32, type Dtype } from '../io/safetensors.ts';
import { dequantizeGptq, GPTQ_BITS, type GptqCheckpointFormat } from '../export/gptq-layout.ts';
import type { LocatedTensor } from './checkpoint.ts';

/** The tensors that replace a quantized Linear's `weight`. */
export const GPTQ_TENSORS = ['qweight', 'qzeros', 'scales', 'g_idx'] as const;

/** Per-module override of the base settings (GPTQModel's `dynamic` values). */
export interface GptqOverride {
  bits?: number;
  group_size?: number;
}

/** The `quantization_config` keys the lab reads and writes. */
export interface GptqQuantizationConfig {
  quant_method: 'gptq';
  bits: number;
  /** Input columns per group; -1 = one group per column of W (all of `in`). */
  group_size: number;
  sym: boolean;
  desc_act: boolean;
  checkpoint_format: GptqCheckpointFormat;
  /** Pattern -> override, in order ("-:" excludes, "+:" or bare overrides). */
  dynamic: Record<string, GptqOverride>;
}

/** The GPTQ settings of config.json, or null when it is not a GPTQ checkpoint; bad values are refused. */
export function gptqQuantizationConfig(file: string, config: Record<string, unknown>): GptqQuantizationConfig | null {
  const q = config.quantization_config as Record<string, unknown> | undefined;
  if (q == null || q.quant_method !== 'gptq') return null;
  const bad = (what: string) => new ModelFileError(file, 'unsupported', `quantization_config: ${what}`);
  const bits = q.bits;
  if (typeof bits !== 'number' || !GPTQ_BITS.includes(bits)) throw bad(`bits ${JSON.stringify(bits)} is not one of ${GPTQ_BITS.join(', ')}`);
  const groupSize = q.group_size ?? 128;
  if (typeof groupSize !== 'number' || !(groupSize === -1 || (Number.isInteger(groupSize) && groupSize > 0))) {
    throw bad(`group_size ${JSON.stringify(groupSize)} is not a positive integer or -1`);
  }
  // transformers 5 writes the format under both `format` and the legacy `checkpoint_format`.
  const format = String(q.checkpoint_format ?? q.format ?? 'gptq').toLowerCase();
  if (format !== 'gptq' && format !== 'gptq_v2') throw bad(`checkpoint_format ${JSON.stringify(format)} is not "gptq" or "gptq_v2"`);
  const dynamic = q.dynamic ?? {};
  if (typeof dynamic !== 'object' || dynamic === null || Array.isArray(dynamic)) throw bad('dynamic is not an object of pattern -> settings');
  for (const [pattern, override] of Object.entries(dynamic as Record<string, unknown>)) {
    try {
      new RegExp(pattern.replace(/^[+-]:/, ''));
    } catch {
      throw bad(`dynamic pattern ${JSON.stringify(pattern)} is not a regular expression`);
    }
    if (typeof override !== 'object' || override === null) throw bad(`dynamic[${JSON.stringify(pattern)}] is not an object`);
  }
  return {
    quant_method: 'gptq',
    bits,
    group_size: groupSize,
    sym: q.sym !== false,
    desc_act: q.desc_act === true,
    checkpoint_format: format,
    dynamic: dynamic as Record<string, GptqOverride>,
  };
}

/** A module's bits and group size under `config` (first matching dynamic rule), or null when it is excluded ("-:"). */
export function gptqModuleSettings(config: GptqQuantizationConfig, module: string): { bits: number; groupSize: number } | null {
  for (const [pattern, override] of Object.entries(config.dynamic)) {
    const negative = pattern.startsWith('-:');
    if (!new RegExp(`^(?:${pattern.replace(/^[+-]:/, '')})`).test(module)) continue;
    if (negative) return null;
    return { bits: override.bits ?? config.bits, groupSize: override.group_size ?? config.group_size };
  }
  return { bits: config.bits, groupSize: config.group_size };
}

/** A read-only source whose bytes are computed on demand (a dequantized weight). */
class ComputedByteSource implements ByteSource {
  constructor(
    readonly name: string,
    private readonly bytes: number,
    private readonly compute: () => Promise<Uint8Array>,
  ) {}

  async size(): Promise<number> {
    return this.bytes;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const all = await this.compute();
    if (offset < 0 || length < 0 || offset + length > all.byteLength) {
      throw new ModelFileError(this.name, 'truncated', `read of ${length} bytes at ${offset} is past the end (${all.byteLength} bytes)`);
    }
    return all.subarray(offset, offset + length);
  }
}

/** The dtype of a dequantized weight: the model's (the embedding's) where it is F16 or BF16, else F32. */
const WEIGHT_DTYPES = { F16: 'f16', BF16: 'bf16', F32: 'f32' } as const;

/**
 * `tensors` with every GPTQ Linear (`{module}.qweight` + qzeros, scales, g_idx) replaced by a virtual
 * `{module}.weight` [out, in] in `dtype` that dequantizes when read. Shapes, dtypes and the module's settings are
 * checked here, before any data is read.
 */
export function dequantizedGptqTensors(
  file: string,
  config: GptqQuantizationConfig,
  tensors: Map<string, LocatedTensor>,
  modelDtype: Dtype,
): Map<string, LocatedTensor> {
  const dtype = modelDtype === 'F16' || modelDtype === 'BF16' ? modelDtype : 'F32';
  const out = new Map(tensors);
  for (const name of tensors.keys()) {
    if (!name.endsWith('.qweight')) continue;
    const module = name.slice(0, -'.qweight'.length);
    const parts = Object.fromEntries(
      GPTQ_TENSORS.map((t) => {
        const found = tensors.get(`${module}.${t}`);
        if (!found) throw new ModelFileError(file, 'missing-tensor', `missing tensor ${module}.${t} (GPTQ Linear ${module})`);
        return [t, found];
      }),
    ) as Record<(typeof GPTQ_TENSORS)[number], LocatedTensor>;
    const where = (t: LocatedTensor) => t.source.name;
    const shape = (t: LocatedTensor) => t.info.shape;
    for (const t of ['qweight', 'qzeros', 'g_idx'] as const) {
      if (parts[t].info.dtype !== 'I32')
        throw new ModelFileError(where(parts[t]), 'bad-dtype', `tensor ${module}.${t} is ${parts[t].info.dtype}; GPTQ stores it as I32`);
    }
    if (!['F16', 'BF16', 'F32'].includes(parts.scales.info.dtype)) {
      throw new ModelFileError(where(parts.scales), 'bad-dtype', `tensor ${module}.scales is ${parts.scales.info.dtype}; GPTQ scales are F16, BF16 or F32`);
    }
    const [packedRows, outFeatures] = shape(parts.qweight);
    const [inFeatures] = shape(parts.g_idx);
    const [groups, scaleCols] = shape(parts.scales);
    const settings = gptqModuleSettings(config, module);
    const bits = (packedRows * 32) / inFeatures;
    const mismatch = (what: string) => new ModelFileError(where(parts.qweight), 'shape-mismatch', `GPTQ Linear ${module}: ${what}`);
    if (!settings) throw mismatch('quantization_config.dynamic excludes it ("-:" rule) but it is stored quantized');
    if (shape(parts.qweight).length !== 2 || shape(parts.g_idx).length !== 1 || bits !== settings.bits) {
      throw mismatch(`qweight [${shape(parts.qweight)}] with g_idx [${shape(parts.g_idx)}] is ${bits} bits, quantization_config says ${settings.bits}`);
    }
    const groupSize = settings.groupSize === -1 ? inFeatures : settings.groupSize;
    if (scaleCols !== outFeatures || groups * groupSize !== inFeatures) {
      throw mismatch(`scales [${shape(parts.scales)}] do not give [${inFeatures}/${groupSize}, ${outFeatures}] (group_size ${settings.groupSize})`);
    }
    const zeros = shape(parts.qzeros);
    if (zeros.length !== 2 || zeros[0] !== groups || zeros[1] * 32 !== outFeatures * bits) {
      throw mismatch(`qzeros [${zeros}] is not [${groups}, ${(outFeatures * bits) / 32}]`);
    }
    const read = async (t: LocatedTensor) => t.source.read(t.info.byteOffset, t.info.byteLength);
    const int32 = async (t: LocatedTensor) => {
      const bytes = await read(t);
      return new Uint32Array(bytes.slice().buffer);
    };
    const byteLength = outFeatures * inFeatures * (dtype === 'F32' ? 4 : 2);
    const source = new ComputedByteSource(`${where(parts.qweight)} (${module}, GPTQ dequantized)`, byteLength, async () => {
      const weight = dequantizeGptq(
        {
          qweight: await int32(parts.qweight),
          qzeros: await int32(parts.qzeros),
          scales: bytesToFloat32(parts.scales.info, await read(parts.scales)),
          gIdx: new Int32Array((await int32(parts.g_idx)).buffer),
        },
        { bits, out: outFeatures, inFeatures, format: config.checkpoint_format },
      );
      return encodeWeights(weight, WEIGHT_DTYPES[dtype]);
    });
    for (const t of GPTQ_TENSORS) out.delete(`${module}.${t}`);
    const weightName = `${module}.weight`;
    out.set(weightName, { info: { name: weightName, dtype, shape: [outFeatures, inFeatures], byteOffset: 0, byteLength }, source });
  }
  return out;
}
