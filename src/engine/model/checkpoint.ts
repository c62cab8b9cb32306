/**
 * A Hugging Face model folder opened for reading: config.json -> spec, the safetensors headers (one file or
 * shards listed by model.safetensors.index.json) validated, every expected weight located and shape-checked,
 * tokenizer.json parsed when present. Tensor data is read lazily: one tensor at a time, or a layer's tensors in a few
 * range reads (withTensorsInMemory).
 */
import { ModelFileError, quoted } from '../errors.ts';
import type { ByteSource } from '../io/byte-source.ts';
import { bytesToFloat32, readSafetensorsHeader, type TensorInfo } from '../io/safetensors.ts';
import { normalizeConfig } from './config.ts';
import { dequantizedGptqTensors, gptqQuantizationConfig, type GptqQuantizationConfig } from './gptq-checkpoint.ts';
import type { MoeModelSpec, WeightDtype } from './spec.ts';
import { resolveWeightNames, type WeightNames } from './weights.ts';

/** A folder of model files: a local directory, files picked in the browser, or a URL prefix. */
export interface ModelFolder {
  /** How to name the folder in messages: a path, a repo id, "dropped files". */
  readonly name: string;
  /** The file at `path` (relative, e.g. "config.json"), or null when the folder has none. */
  open(path: string): Promise<ByteSource | null>;
}

export interface LocatedTensor {
  info: TensorInfo;
  source: ByteSource;
}

export interface Checkpoint {
  folder: ModelFolder;
  spec: MoeModelSpec;
  /** config.json as parsed (copied verbatim on export). */
  config: Record<string, unknown>;
  names: WeightNames;
  tensors: Map<string, LocatedTensor>;
  /** The safetensors files in order (one, or the shards). */
  files: string[];
  tokenizerJson: Record<string, unknown> | null;
  tokenizerConfig: Record<string, unknown> | null;
  /** A GPTQ checkpoint's settings: its quantized Linears appear in `tensors` as dequantized weights (gptq-checkpoint.ts). */
  gptq?: GptqQuantizationConfig | null;
}

export const SHARD_INDEX = 'model.safetensors.index.json';

/** Size caps for the JSON files, so a hostile "config.json" of gigabytes is refused before it is read. */
export const JSON_LIMITS = { config: 16 << 20, index: 64 << 20, tokenizer: 512 << 20 } as const;

/** A whole small file as UTF-8 text, refused when over `maxBytes`. */
export async function readText(source: ByteSource, maxBytes: number = JSON_LIMITS.config): Promise<string> {
  const size = await source.size();
  if (size > maxBytes) throw new ModelFileError(source.name, 'unsupported', `file is ${size} bytes, more than the ${maxBytes}-byte limit for it`);
  const bytes = await source.read(0, size);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ModelFileError(source.name, 'bad-json', 'not valid UTF-8 text');
  }
}

/** JSON text that must be an object. */
export function parseJsonObject(file: string, text: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFileError(file, 'bad-json', `not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelFileError(file, 'bad-json', 'not a JSON object');
  return json as Record<string, unknown>;
}

export async function readJson(source: ByteSource, maxBytes: number = JSON_LIMITS.config): Promise<Record<string, unknown>> {
  return parseJsonObject(source.name, await readText(source, maxBytes));
}

async function require(folder: ModelFolder, path: string, why: string): Promise<ByteSource> {
  const source = await folder.open(path);
  if (!source) throw new ModelFileError(`${folder.name}/${path}`, 'missing-file', `file not found (${why})`);
  return source;
}

/** Groups `model.safetensors.index.json`'s weight_map by shard file, checking every shard name is a plain file name. */
export function shardsOfIndex(file: string, index: Record<string, unknown>): Map<string, string[]> {
  const weightMap = index.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new ModelFileError(file, 'bad-json', 'weight_map is missing or not an object');
  }
  const byFile = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    // A plain name in the same folder: no path separators, so an index cannot point outside the model folder.
    if (typeof shard !== 'string' || !/^[\w.-]+\.safetensors$/.test(shard) || shard.startsWith('.')) {
      throw new ModelFileError(file, 'bad-json', `weight_map[${quoted(tensor)}] is not a safetensors file name in this folder`);
    }
    const names = byFile.get(shard);
    if (names) names.push(tensor);
    else byFile.set(shard, [tensor]);
  }
  if (byFile.size === 0) throw new ModelFileError(file, 'bad-json', 'weight_map lists no tensors');
  return byFile;
}

/** Lists the safetensors files of a folder: the shards of the index, or model.safetensors. */
async function locateTensors(folder: ModelFolder): Promise<{ files: string[]; tensors: Map<string, LocatedTensor> }> {
  const index = await folder.open(SHARD_INDEX);
  const tensors = new Map<string, LocatedTensor>();
  if (!index) {
    const source = await require(folder, 'model.safetensors', 'or a sharded model.safetensors.index.json');
    const header = await readSafetensorsHeader(source, WEIGHT_HEADER);
    for (const info of header.tensors.values()) tensors.set(info.name, { info, source });
    return { files: ['model.safetensors'], tensors };
  }
  const byFile = shardsOfIndex(index.name, await readJson(index, JSON_LIMITS.index));
  const files = [...byFile.keys()].sort();
  for (const file of files) {
    const source = await require(folder, file, `listed in ${SHARD_INDEX}`);
    const header = await readSafetensorsHeader(source, WEIGHT_HEADER);
    for (const name of byFile.get(file)!) {
      const info = header.tensors.get(name);
      if (!info) throw new ModelFileError(source.name, 'missing-tensor', `tensor ${quoted(name)} listed in ${SHARD_INDEX} is not in this shard`);
      tensors.set(name, { info, source });
    }
  }
  return { files, tensors };
}

/** U8 tensors are gpt-oss's MXFP4 blocks and scales; resolveWeightNames refuses U8 anywhere else. */
const WEIGHT_HEADER = { extraDtypes: ['U8'] } as const;

const DTYPE_OF: Record<string, WeightDtype> = { F32: 'f32', F16: 'f16', BF16: 'bf16' };

/** Opens and validates a model folder; reads headers and JSON only, no tensor data. */
export async function openCheckpoint(folder: ModelFolder): Promise<Checkpoint> {
  const configSource = await require(folder, 'config.json', 'every Hugging Face model folder has one');
  const config = await readJson(configSource, JSON_LIMITS.config);
  const spec = normalizeConfig(configSource.name, config);
  const located = await locateTensors(folder);
  const { files } = located;
  const modelFile = files.length === 1 ? (located.tensors.values().next().value?.source.name ?? `${folder.name}/${files[0]}`) : `${folder.name}/${SHARD_INDEX}`;
  const gptq = gptqQuantizationConfig(configSource.name, config);
  const embeddingDtype = located.tensors.get('model.embed_tokens.weight')?.info.dtype ?? 'F32';
  const tensors = gptq ? dequantizedGptqTensors(modelFile, gptq, located.tensors, embeddingDtype) : located.tensors;
  const infos = new Map([...tensors].map(([name, t]) => [name, t.info]));
  const names = resolveWeightNames(spec, infos, modelFile, (name) => tensors.get(name)!.source.name);
  // The checkpoint's own storage dtype wins over config's torch_dtype (they disagree in the wild).
  spec.dtype = DTYPE_OF[infos.get(names.embedding)!.dtype] ?? spec.dtype;
  const tokenizerSource = await folder.open('tokenizer.json');
  const tokenizerConfigSource = await folder.open('tokenizer_config.json');
  return {
    folder,
    spec,
    config,
    names,
    tensors,
    files,
    tokenizerJson: tokenizerSource ? await readJson(tokenizerSource, JSON_LIMITS.tokenizer) : null,
    tokenizerConfig: tokenizerConfigSource ? await readJson(tokenizerConfigSource) : null,
    gptq,
  };
}

export function tensorInfo(checkpoint: Checkpoint, name: string): TensorInfo {
  const t = checkpoint.tensors.get(name);
  if (!t) throw new ModelFileError(checkpoint.folder.name, 'missing-tensor', `missing tensor ${name}`);
  return t.info;
}

/** A tensor's raw bytes in its stored dtype. */
export async function readTensorRaw(checkpoint: Checkpoint, name: string): Promise<{ info: TensorInfo; bytes: Uint8Array }> {
  const t = checkpoint.tensors.get(name);
  if (!t) throw new ModelFileError(checkpoint.folder.name, 'missing-tensor', `missing tensor ${name}`);
  return { info: t.info, bytes: await t.source.read(t.info.byteOffset, t.info.byteLength) };
}

/** A tensor's values widened to f32. */
export async function readTensorF32(checkpoint: Checkpoint, name: string): Promise<Float32Array> {
  const { info, bytes } = await readTensorRaw(checkpoint, name);
  return bytesToFloat32(info, bytes);
}

/**
 * How reads of many tensors are joined: tensors of one file whose bytes lie at most `maxGapBytes` apart are read as
 * one range of at most `maxBytes` (a larger tensor alone). A checkpoint's layer is one contiguous run of tensors
 * (safetensors files order names alphabetically, so `model.layers.7.` sorts together), and a fine-grained MoE stores
 * every expert's projections apart: Qwen-MoE's 64 experts make 192 tensors per layer, each one HTTP range request or
 * Blob read when read alone — a browser pays milliseconds per request, whatever its size.
 */
export const TENSOR_SPAN = { maxGapBytes: 64 << 10, maxBytes: 64 << 20 } as const;

/** One range read that covers tensors `names` of one file. */
export interface TensorSpan {
  source: ByteSource;
  offset: number;
  length: number;
  names: string[];
}

/** The spans that read `names` (see TENSOR_SPAN): per file, in byte order; every name in exactly one span. */
export function tensorSpans(checkpoint: Checkpoint, names: readonly string[], limits: { maxGapBytes: number; maxBytes: number } = TENSOR_SPAN): TensorSpan[] {
  const located = names.map((name) => {
    const t = checkpoint.tensors.get(name);
    if (!t) throw new ModelFileError(checkpoint.folder.name, 'missing-tensor', `missing tensor ${name}`);
    return { name, ...t };
  });
  const bySource = new Map<ByteSource, typeof located>();
  for (const t of located) {
    const list = bySource.get(t.source);
    if (list) list.push(t);
    else bySource.set(t.source, [t]);
  }
  const spans: TensorSpan[] = [];
  for (const [source, tensors] of bySource) {
    tensors.sort((a, b) => a.info.byteOffset - b.info.byteOffset);
    let span: TensorSpan | null = null;
    for (const { name, info } of tensors) {
      const end = info.byteOffset + info.byteLength;
      if (span && info.byteOffset - (span.offset + span.length) <= limits.maxGapBytes && end - span.offset <= limits.maxBytes) {
        span.length = Math.max(span.length, end - span.offset);
        span.names.push(name);
      } else {
        span = { source, offset: info.byteOffset, length: info.byteLength, names: [name] };
        spans.push(span);
      }
    }
  }
  return spans;
}

/** A range of a file held in memory, answering reads inside it from there and any other read from the file. */
class FileRangeInMemory implements ByteSource {
  constructor(
    private readonly file: ByteSource,
    private readonly offset: number,
    private readonly bytes: Uint8Array,
  ) {}

  get name(): string {
    return this.file.name;
  }

  size(): Promise<number> {
    return this.file.size();
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const from = offset - this.offset;
    if (from < 0 || from + length > this.bytes.byteLength) return this.file.read(offset, length);
    return this.bytes.subarray(from, from + length);
  }
}

/**
 * A view of `checkpoint` whose tensors `names` answer from host memory, read span by span (tensorSpans): what a GPU
 * upload of a layer reads first, so that it asks the files a few times instead of once per tensor.
 */
export async function withTensorsInMemory(checkpoint: Checkpoint, names: readonly string[], signal?: AbortSignal): Promise<Checkpoint> {
  const tensors = new Map(checkpoint.tensors);
  for (const span of tensorSpans(checkpoint, names)) {
    signal?.throwIfAborted();
    const inMemory = new FileRangeInMemory(span.source, span.offset, await span.source.read(span.offset, span.length));
    for (const name of span.names) tensors.set(name, { info: checkpoint.tensors.get(name)!.info, source: inMemory });
  }
  return { ...checkpoint, tensors };
}
