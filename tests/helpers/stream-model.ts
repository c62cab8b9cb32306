/**
 * The small synthetic Mixtral-shaped f32 model of the layer-streaming CLI tests, written to disk (the CLI reads
 * folders): many thin layers, so a budget of a sixth of its weight bytes still holds one layer's working set.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { syntheticModelFolder } from '../../src/engine/io/synthetic-folder.ts';
import type { ModelFolder } from '../../src/engine/model/checkpoint.ts';

export const STREAM_MIXTRAL_CONFIG = {
  architectures: ['MixtralForCausalLM'],
  model_type: 'mixtral',
  hidden_size: 64,
  intermediate_size: 64,
  num_hidden_layers: 32,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  head_dim: 16,
  num_local_experts: 8,
  num_experts_per_tok: 2,
  vocab_size: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  max_position_embeddings: 64,
  tie_word_embeddings: false,
};

/** The synthetic f32 folder of `config` (seeded) written to `dir`; returns the in-memory folder. */
export async function writeSyntheticModel(dir: string, config: Record<string, unknown>, seed: number): Promise<ModelFolder> {
  const folder = syntheticModelFolder(config, 'F32', seed);
  mkdirSync(dir, { recursive: true });
  for (const file of ['config.json', 'model.safetensors']) {
    const source = (await folder.open(file))!;
    writeFileSync(join(dir, file), await source.read(0, await source.size()));
  }
  return folder;
}
