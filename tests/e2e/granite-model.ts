/**
 * The first shipped model (public/models/brown-moe-3m, a trained Mixtral in f16) restated as a GraniteMoE
 * checkpoint, for tests that need a non-Mixtral family that knows language: the same network under Granite's names
 * and layout — fused experts `input_linear` [E, 2I, H] (gate rows, then up rows) and `output_linear` [E, H, I], the
 * router at `router.layer`, multipliers 1 and attention_multiplier 1/sqrt(head_dim), untied LM head. Granite's
 * routing (top-K of the logits, softmax over those K) equals Mixtral's (softmax, top-K, renormalized), so it
 * computes what the Mixtral does. Built in memory from the shipped files (plain Node, no project imports).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const BROWN_MOE_3M = join(import.meta.dirname, '../../public/models/brown-moe-3m');

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** config.json, model.safetensors, tokenizer.json and tokenizer_config.json of the Granite restatement. */
export function graniteFromBrownMoe3m(): Map<string, Buffer> {
  const mixtral = JSON.parse(readFileSync(join(BROWN_MOE_3M, 'config.json'), 'utf8')) as Record<string, number | string | object | null>;
  const bytes = readFileSync(join(BROWN_MOE_3M, 'model.safetensors'));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, TensorEntry>;
  const data = (name: string) => {
    const t = header[name];
    if (!t) throw new Error(`brown-moe-3m has no tensor ${name}`);
    return bytes.subarray(8 + headerLength + t.data_offsets[0], 8 + headerLength + t.data_offsets[1]);
  };
  const E = mixtral.num_local_experts as number;
  const out: { name: string; shape: number[]; data: Buffer }[] = [];
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__' || name.includes('.block_sparse_moe.')) continue;
    out.push({ name, shape: t.shape, data: data(name) });
  }
  for (let l = 0; l < (mixtral.num_hidden_layers as number); l++) {
    const moe = `model.layers.${l}.block_sparse_moe`;
    const w = (e: number, m: string) => `${moe}.experts.${e}.${m}.weight`;
    const [I, H] = header[w(0, 'w1')].shape;
    out.push({ name: `${moe}.router.layer.weight`, shape: header[`${moe}.gate.weight`].shape, data: data(`${moe}.gate.weight`) });
    out.push({
      name: `${moe}.input_linear.weight`,
      shape: [E, 2 * I, H],
      data: Buffer.concat(Array.from({ length: E }, (_, e) => [data(w(e, 'w1')), data(w(e, 'w3'))]).flat()),
    });
    out.push({ name: `${moe}.output_linear.weight`, shape: [E, H, I], data: Buffer.concat(Array.from({ length: E }, (_, e) => data(w(e, 'w2')))) });
  }
  out.sort((a, b) => (a.name < b.name ? -1 : 1));
  let offset = 0;
  const entries: Record<string, TensorEntry> = {};
  for (const t of out) {
    entries[t.name] = { dtype: 'F16', shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(entries);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  const config = {
    architectures: ['GraniteMoeForCausalLM'],
    model_type: 'granitemoe',
    hidden_size: mixtral.hidden_size,
    intermediate_size: mixtral.intermediate_size,
    num_hidden_layers: mixtral.num_hidden_layers,
    num_attention_heads: mixtral.num_attention_heads,
    num_key_value_heads: mixtral.num_key_value_heads,
    num_local_experts: E,
    num_experts_per_tok: mixtral.num_experts_per_tok,
    max_position_embeddings: mixtral.max_position_embeddings,
    rms_norm_eps: mixtral.rms_norm_eps,
    rope_theta: mixtral.rope_theta,
    vocab_size: mixtral.vocab_size,
    bos_token_id: mixtral.bos_token_id,
    eos_token_id: mixtral.eos_token_id,
    hidden_act: 'silu',
    attention_bias: false,
    attention_multiplier: 1 / Math.sqrt((mixtral.hidden_size as number) / (mixtral.num_attention_heads as number)),
    embedding_multiplier: 1,
    residual_multiplier: 1,
    logits_scaling: 1,
    tie_word_embeddings: false,
    torch_dtype: 'float16',
  };
  return new Map([
    ['config.json', Buffer.from(JSON.stringify(config, null, 2))],
    ['model.safetensors', Buffer.concat([length, Buffer.from(json), ...out.map((t) => t.data)])],
    ['tokenizer.json', readFileSync(join(BROWN_MOE_3M, 'tokenizer.json'))],
    ['tokenizer_config.json', readFileSync(join(BROWN_MOE_3M, 'tokenizer_config.json'))],
  ]);
}
