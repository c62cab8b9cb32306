/** The hf-tiny fixtures (tests/fixtures/hf-tiny): checkpoints saved by transformers with its outputs. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DirectoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';

export const FIXTURES = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'olmoe', 'granitemoe', 'phimoe'] as const;
/** Set b: the DeepSeek-V2/V3 (MLA, grouped sigmoid routing) and GLM-4.5 designs, layer 0 dense. */
export const FIXTURES_B = ['deepseek_v2', 'deepseek_v3', 'deepseek_v3_nogroup', 'glm4_moe'] as const;
export type FixtureName = (typeof FIXTURES)[number];
/** Set c: gpt_oss (sinks, sliding/full layers, biased router and experts, clamped SwiGLU); experts f32 or MXFP4. */
export const FIXTURES_C = ['gpt_oss', 'gpt_oss_mxfp4'] as const;
export type AnyFixtureName = FixtureName | (typeof FIXTURES_B)[number] | (typeof FIXTURES_C)[number];

export function fixtureDir(name: AnyFixtureName): string {
  return fileURLToPath(new URL(`../fixtures/hf-tiny/${name}`, import.meta.url));
}

export function openFixture(name: AnyFixtureName): Promise<Checkpoint> {
  return openCheckpoint(new DirectoryFolder(fixtureDir(name)));
}

export interface FixtureReference {
  meanNll: number;
  perplexity: number;
  inputIds: number[];
  tensors: Map<string, Float32Array>;
}

/** reference.safetensors (input_ids, logits, layers.{i}.moe_input|moe_output|router_logits) + reference.json. */
export async function readFixtureReference(name: AnyFixtureName): Promise<FixtureReference> {
  const dir = fixtureDir(name);
  const json = JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8')) as { mean_nll: number; perplexity: number };
  const source = new FileByteSource(`${dir}/reference.safetensors`);
  const header = await readSafetensorsHeader(source);
  const tensors = new Map<string, Float32Array>();
  for (const info of header.tensors.values()) tensors.set(info.name, bytesToFloat32(info, await readTensorBytes(source, info)));
  return { meanNll: json.mean_nll, perplexity: json.perplexity, inputIds: Array.from(tensors.get('input_ids')!), tensors };
}
