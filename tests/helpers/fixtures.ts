/** The six hf-tiny fixtures (tests/fixtures/hf-tiny): checkpoints saved by transformers with its outputs. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DirectoryFolder, FileByteSource } from '../../src/cli/fs-folder.ts';
import { openCheckpoint, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { bytesToFloat32, readSafetensorsHeader, readTensorBytes } from '../../src/engine/io/safetensors.ts';

export const FIXTURES = ['mixtral', 'qwen2_moe', 'qwen3_moe', 'olmoe', 'granitemoe', 'phimoe'] as const;
export type FixtureName = (typeof FIXTURES)[number];

export function fixtureDir(name: FixtureName): string {
  return fileURLToPath(new URL(`../fixtures/hf-tiny/${name}`, import.meta.url));
}

export function openFixture(name: FixtureName): Promise<Checkpoint> {
  return openCheckpoint(new DirectoryFolder(fixtureDir(name)));
}

export interface FixtureReference {
  meanNll: number;
  perplexity: number;
  inputIds: number[];
  tensors: Map<string, Float32Array>;
}

/** reference.safetensors (input_ids, logits, layers.{i}.moe_input|moe_output|router_logits) + reference.json. */
export async function readFixtureReference(name: FixtureName): Promise<FixtureReference> {
  const dir = fixtureDir(name);
  const json = JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8')) as { mean_nll: number; perplexity: number };
  const source = new FileByteSource(`${dir}/reference.safetensors`);
  const header = await readSafetensorsHeader(source);
  const tensors = new Map<string, Float32Array>();
  for (const info of header.tensors.values()) tensors.set(info.name, bytesToFloat32(info, await readTensorBytes(source, info)));
  return { meanNll: json.mean_nll, perplexity: json.perplexity, inputIds: Array.from(tensors.get('input_ids')!), tensors };
}
