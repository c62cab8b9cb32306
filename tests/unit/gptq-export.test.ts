import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DirectoryFolder } from '../../src/cli/fs-folder.ts';
import { memoryFolder } from '../../src/engine/distill/export.ts';
import { encodeWeights } from '../../src/engine/io/dtype-encoding.ts';
import { openCheckpoint, readTensorRaw, type Checkpoint } from '../../src/engine/model/checkpoint.ts';
import { gptqModuleSettings, gptqQuantizationConfig } from '../../src/engine/model/gptq-checkpoint.ts';
import type { WeightDtype } from '../../src/engine/model/spec.ts';
import { dequantize, type QuantBits, type QuantizedModel, type QuantizedModelMatrix } from '../../src/engine/quantize/quantized-matrix.ts';
import { fuseExperts, readRawTensors, writeModelFolder } from '../helpers/checkpoint-files.ts';
import { fixtureDir, openFixture } from '../helpers/fixtures.ts';
import { gptqExportFiles, rtnQuantizedModel } from '../helpers/gptq.ts';
import { scratchDir } from '../helpers/scratch-dir.ts';

/** Every routed expert at `bits` (canonical matrix 5 at `otherBits`) and the attention tensors given at 3 bits, groups of 64. */
function quantizeModel(checkpoint: Checkpoint, bits: QuantBits, otherBits: QuantBits, attention: string[]): Promise<QuantizedModel> {
  return rtnQuantizedModel(checkpoint, { bits, groupSize: 32, otherBits: new Map([[5, otherBits]]), attention, attentionBits: 3, attentionGroupSize: 64 });
}

async function exportFolder(checkpoint: Checkpoint, quantized: QuantizedModel) {
  const files = await gptqExportFiles(checkpoint, quantized);
  return { files, reloaded: await openCheckpoint(memoryFolder('gptq', files)) };
}

/** The reloaded weights of every quantized matrix equal the lab's dequantized values bit for bit. */
async function expectDequantized(reloaded: Checkpoint, quantized: QuantizedModel, moduleOf: (m: QuantizedModelMatrix) => string, dtype: WeightDtype = 'f32') {
  for (const m of quantized.matrices) {
    const got = (await readTensorRaw(reloaded, `${moduleOf(m)}.weight`)).bytes;
    expect(Buffer.from(got).equals(Buffer.from(encodeWeights(dequantize(m.matrix), dtype))), m.label).toBe(true);
  }
}

describe('GPTQ export and reload', () => {
  it('mixtral (per-expert): quantized Linears become qweight/qzeros/scales/g_idx, mixed bits through dynamic, the rest byte for byte', async () => {
    const checkpoint = await openFixture('mixtral');
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const quantized = await quantizeModel(checkpoint, 4, 8, [q]);
    const { files, reloaded } = await exportFolder(checkpoint, quantized);
    expect(files.map((f) => f.path)).toEqual(['config.json', 'generation_config.json', 'model.safetensors']);
    const config = reloaded.gptq!;
    expect(config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 32, sym: true, desc_act: false, checkpoint_format: 'gptq' });
    const written = JSON.parse(new TextDecoder().decode(files[0].bytes)).quantization_config;
    expect(written.modules_in_block_to_quantize[0]).toContain('block_sparse_moe.experts.7.w2');
    expect(written.modules_in_block_to_quantize[0]).toContain('self_attn.q_proj');
    // Expert 2's up (w3) of layer 0 (matrix 5 in canonical order: gate, up of expert 0, 1, 2) is 8-bit; q_proj of layer 0 3-bit with groups of 64.
    expect(gptqModuleSettings(config, 'model.layers.0.block_sparse_moe.experts.2.w3')).toEqual({ bits: 8, groupSize: 32 });
    expect(gptqModuleSettings(config, 'model.layers.0.self_attn.q_proj')).toEqual({ bits: 3, groupSize: 64 });
    expect(gptqModuleSettings(config, 'model.layers.1.block_sparse_moe.experts.2.w1')).toEqual({ bits: 4, groupSize: 32 });
    // Unquantized block Linears are excluded: q_proj of layer 1 by name, k_proj and the router in every layer.
    expect(gptqModuleSettings(config, 'model.layers.1.self_attn.q_proj')).toBeNull();
    expect(gptqModuleSettings(config, 'model.layers.1.self_attn.k_proj')).toBeNull();
    expect(gptqModuleSettings(config, 'model.layers.0.block_sparse_moe.gate')).toBeNull();
    const e0 = 'model.layers.0.block_sparse_moe.experts.0.w1';
    expect(reloaded.tensors.get(`${e0}.weight`)!.info).toMatchObject({ dtype: 'F32', shape: [128, 64] });
    await expectDequantized(reloaded, quantized, (m) => m.tensor.slice(0, -'.weight'.length));
    // Everything else: the input's bytes.
    for (const name of [
      'model.embed_tokens.weight',
      'model.layers.1.self_attn.q_proj.weight',
      'model.layers.0.block_sparse_moe.gate.weight',
      'lm_head.weight',
    ]) {
      expect((await readTensorRaw(reloaded, name)).bytes).toEqual((await readTensorRaw(checkpoint, name)).bytes);
    }
    expect(reloaded.spec).toEqual(checkpoint.spec);
  });

  it('fused experts (transformers 5 layout) are written per expert under the hub names and reload as per-expert Linears', async () => {
    const dir = scratchDir('moe-lab-gptq-');
    const config = JSON.parse(readFileSync(join(fixtureDir('qwen2_moe'), 'config.json'), 'utf8'));
    writeModelFolder(dir, config, fuseExperts(readRawTensors(join(fixtureDir('qwen2_moe'), 'model.safetensors'))));
    const checkpoint = await openCheckpoint(new DirectoryFolder(dir));
    expect(checkpoint.names.layers[0].experts!.layout).toBe('fused');
    const quantized = await quantizeModel(checkpoint, 2, 4, []);
    const { reloaded } = await exportFolder(checkpoint, quantized);
    const experts = reloaded.names.layers[1].experts!;
    expect(experts.layout).toBe('per-expert');
    if (experts.layout !== 'per-expert') return;
    expect(experts.gate[3]).toBe('model.layers.1.mlp.experts.3.gate_proj.weight');
    expect(experts.down[7]).toBe('model.layers.1.mlp.experts.7.down_proj.weight');
    // Labels are layers.{l}.experts.{e}.{gate|up|down}; the module is {prefix}.experts.{e}.{gate|up|down}_proj.
    await expectDequantized(reloaded, quantized, (m) => {
      const [, , , e, projection] = m.label.split('.');
      return `${m.tensor.slice(0, m.tensor.lastIndexOf('.experts.'))}.experts.${e}.${projection}_proj`;
    });
    // The shared expert is a block Linear left as it was and excluded by a "-:" rule.
    expect(gptqModuleSettings(reloaded.gptq!, 'model.layers.0.mlp.shared_expert.up_proj')).toBeNull();
  });

  it('an f16 model (the default model) reads back its quantized experts in f16, the rounding the lab applies to its own', async () => {
    const checkpoint = await openCheckpoint(new DirectoryFolder(fileURLToPath(new URL('../../public/models/brown-moe-3m', import.meta.url))));
    expect(checkpoint.spec.dtype).toBe('f16');
    const all = await quantizeModel(checkpoint, 4, 3, []);
    const quantized = { ...all, matrices: all.matrices.filter((m) => m.layer === 0) };
    const { reloaded } = await exportFolder(checkpoint, quantized);
    expect(reloaded.tensors.get('model.layers.0.block_sparse_moe.experts.0.w2.weight')!.info).toMatchObject({ dtype: 'F16', shape: [96, 192] });
    await expectDequantized(reloaded, quantized, (m) => m.tensor.slice(0, -'.weight'.length), 'f16');
    expect(reloaded.gptq!.dynamic['+:^model\\.layers\\.0\\.block_sparse_moe\\.experts\\.2\\.w3$']).toEqual({ bits: 3, group_size: 32 });
  });

  it('refuses experts without a per-expert Linear form, a second quantization, and matrices the checkpoint lacks', async () => {
    const granite = await openFixture('granitemoe');
    await expect(exportFolder(granite, { method: 'rtn', bits: 4, mixed: false, groupSize: 32, matrices: [] })).rejects.toThrow(
      /granitemoe experts have no per-expert Linear/,
    );
    const checkpoint = await openFixture('olmoe');
    const quantized = await quantizeModel(checkpoint, 4, 4, []);
    const stray = { ...quantized, matrices: [...quantized.matrices, { ...quantized.matrices[0], tensor: 'model.layers.9.mlp.experts.0.up_proj.weight' }] };
    await expect(exportFolder(checkpoint, stray)).rejects.toThrow(/is not a Linear of/);
    const { reloaded } = await exportFolder(checkpoint, quantized);
    await expect(exportFolder(reloaded, quantized)).rejects.toThrow(/GPTQ checkpoint already/);
  });

  it('refuses a GPTQ folder whose tensors disagree with its quantization_config, naming the module', async () => {
    const checkpoint = await openFixture('olmoe');
    const files = await gptqExportFiles(checkpoint, await quantizeModel(checkpoint, 4, 4, []));
    const withConfig = (patch: (q: Record<string, unknown>) => void) =>
      files.map((f) => {
        if (f.path !== 'config.json') return f;
        const config = JSON.parse(new TextDecoder().decode(f.bytes));
        patch(config.quantization_config);
        return { path: f.path, bytes: new TextEncoder().encode(JSON.stringify(config)) };
      });
    const open = (patch: (q: Record<string, unknown>) => void) => openCheckpoint(memoryFolder('gptq', withConfig(patch)));
    await expect(open((q) => (q.bits = 8))).rejects.toThrow(
      /model\.safetensors: GPTQ Linear model\.layers\.0\.mlp\.experts\.0\.\w+: qweight .* is 4 bits, quantization_config says 8/,
    );
    await expect(open((q) => (q.group_size = 16))).rejects.toThrow(/experts\.0\.\w+: scales \[\d+,\d+\] do not give \[\d+\/16, \d+\] \(group_size 16\)/);
    await expect(open((q) => (q.dynamic = { '-:.*experts\\.3\\..*': {} }))).rejects.toThrow(/experts\.3\.\w+: quantization_config.dynamic excludes it/);
  });

  it('reads quantization_config as GPTQModel and vLLM do: first matching dynamic rule, "-:" excludes, format aliases, bad values refused', () => {
    const base = { quant_method: 'gptq', bits: 4, group_size: 128, sym: true, desc_act: false };
    expect(gptqQuantizationConfig('c.json', { quantization_config: { quant_method: 'awq' } })).toBeNull();
    const c = gptqQuantizationConfig('c.json', {
      quantization_config: {
        ...base,
        format: 'gptq_v2',
        dynamic: { '-:.*\\.self_attn\\..*': {}, '+:model\\.layers\\.0\\..*': { bits: 8 }, '.*experts.*': { group_size: 32 } },
      },
    })!;
    expect(c.checkpoint_format).toBe('gptq_v2');
    expect(gptqModuleSettings(c, 'model.layers.0.self_attn.q_proj')).toBeNull();
    expect(gptqModuleSettings(c, 'model.layers.0.mlp.experts.1.up_proj')).toEqual({ bits: 8, groupSize: 128 });
    expect(gptqModuleSettings(c, 'model.layers.1.mlp.experts.1.up_proj')).toEqual({ bits: 4, groupSize: 32 });
    expect(() => gptqQuantizationConfig('c.json', { quantization_config: { ...base, bits: 5 } })).toThrow(/c.json.*bits 5 is not one of/);
    expect(() => gptqQuantizationConfig('c.json', { quantization_config: { ...base, group_size: 0 } })).toThrow(/group_size 0/);
    expect(() => gptqQuantizationConfig('c.json', { quantization_config: { ...base, checkpoint_format: 'marlin' } })).toThrow(/checkpoint_format "marlin"/);
    expect(() => gptqQuantizationConfig('c.json', { quantization_config: { ...base, dynamic: { '+:(': {} } } })).toThrow(/not a regular expression/);
  });
});
