/**
 * Pruning through the page's engine (LabService) on tests/fixtures/lab-tiny: masks equal the CPU reference on the
 * same statistics, expert dropping follows its criterion, N:M holds, OWL varies the layers, sequential mode
 * differs from dense from layer 1 on, the exported Hugging Face folder computes what the masked model computes
 * (SparseGPT's updated weights included), sweeps leave the masks in force alone (their points' bytes on disk are the
 * prune report's; quantization points' the quantize report's, beside the quantization in force), and everything
 * repeats exactly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EngineError } from '../../src/api/errors.ts';
import type { PruneRequest } from '../../src/api/lab.ts';
import { statsFromSafetensors, type CalibrationStats } from '../../src/engine/calibration/stats.ts';
import { filesFolder } from '../../src/engine/io/files-folder.ts';
import { readSafetensorsHeader } from '../../src/engine/io/safetensors.ts';
import { openCheckpoint } from '../../src/engine/model/checkpoint.ts';
import type { MatrixKey } from '../../src/engine/model/mask-set.ts';
import { masksFromSafetensors } from '../../src/engine/prune/masks-file.ts';
import { readCanonicalExperts } from '../../src/engine/model/expert-layout.ts';
import { decodeWeights } from '../../src/engine/prune/packing.ts';
import { pruneMasksReference } from '../../src/engine/reference/prune/sorted-masks.ts';
import { columnFactors } from '../../src/engine/prune/scores.ts';
import { LabService } from '../../src/lab/lab-service.ts';
import type { QuantBits } from '../../src/engine/quantize/quantized-matrix.ts';
import { QUANTIZE_DEFAULTS } from '../../src/engine/quantize/settings.ts';
import { gpu } from './gpu-context.ts';

const ROOT = join(import.meta.dirname, '../..');
const SITE = 'http://lab.test/';
const LAB_TINY = join(ROOT, 'tests/fixtures/lab-tiny');
const FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'];

async function siteFetch(input: string): Promise<Response> {
  try {
    return new Response(readFileSync(join(ROOT, 'public', input.slice(SITE.length))) as Uint8Array<ArrayBuffer>, { status: 200 });
  } catch {
    return new Response('Not Found', { status: 404 });
  }
}

const fileList = (read: (f: string) => Uint8Array) => FILES.map((f) => ({ path: `m/${f}`, file: new File([read(f) as Uint8Array<ArrayBuffer>], f) }));

async function engineOn(files = fileList((f) => readFileSync(join(LAB_TINY, f)))): Promise<LabService> {
  const engine = new LabService({ assetBase: SITE, fetch: siteFetch, openGpu: gpu, openCache: async () => null });
  await engine.loadModel({ kind: 'files', files });
  return engine;
}

const calibration = { text: { kind: 'corpus' as const, id: 'brown-heldout' }, samples: 4, seqLen: 32, seed: 3, mode: 'dense' as const };
const request = (patch: Partial<PruneRequest> = {}): PruneRequest => ({
  calibration,
  method: 'moe-pruner',
  sparsity: 0.5,
  pattern: { kind: 'unstructured' },
  group: 'row',
  allocation: 'uniform',
  expertsDrop: 0,
  expertCriterion: 'frequency',
  targets: ['experts'],
  ...patch,
});
const evaluation = { text: { kind: 'corpus' as const, id: 'brown-heldout' }, ctx: 64, maxTokens: 256 };

async function exported(engine: LabService, kind: 'masks' | 'statistics' | 'model') {
  return new Map((await engine.exportFiles({ kind, zip: false })).map((f) => [f.path, f.bytes]));
}

async function readStats(bytes: Uint8Array): Promise<CalibrationStats> {
  const checkpoint = await openCheckpoint(filesFolder(fileList((f) => readFileSync(join(LAB_TINY, f)))));
  const header = await readSafetensorsHeader({ name: 's', size: async () => bytes.length, read: async (o, n) => bytes.subarray(o, o + n) });
  return statsFromSafetensors(checkpoint.spec, header, bytes);
}

/** Keep-mask words of one canonical matrix ('layers.1.experts.down') from masks.safetensors. */
async function maskWords(masks: Uint8Array, name: string): Promise<Uint32Array> {
  const source = { name: 'masks.safetensors', size: async () => masks.length, read: async (o: number, n: number) => masks.subarray(o, o + n) };
  const header = await readSafetensorsHeader(source, { extraDtypes: ['U8'] });
  const checkpoint = await openCheckpoint(filesFolder(fileList((f) => readFileSync(join(LAB_TINY, f)))));
  const [, layer, key] = /^layers\.(\d+)\.(.+)$/.exec(name)!;
  return masksFromSafetensors(checkpoint.spec, header, masks).layers[Number(layer)]!.matrices[key as MatrixKey]!;
}

const bit = (mask: Uint32Array, i: number) => (mask[i >>> 5] >>> (i & 31)) & 1;
const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: EngineError) => error,
  );

describe('pruning through LabService on lab-tiny', () => {
  it('MoE-Pruner at 50%: the masks equal the CPU reference on the same statistics, and repeat exactly', async () => {
    const engine = await engineOn();
    const summary = await engine.prune(request());
    expect(summary.calibration?.tokens).toBe(128);
    expect(summary.overall.pruned / summary.overall.weights).toBe(0.5);
    const masks = (await exported(engine, 'masks')).get('masks.safetensors')!;
    const stats = await readStats((await exported(engine, 'statistics')).get('calibration-stats.safetensors')!);
    const checkpoint = await openCheckpoint(filesFolder(fileList((f) => readFileSync(join(LAB_TINY, f)))));
    const { expertFfnSize: I, hiddenSize: H } = checkpoint.spec;
    for (const layer of [0, 1]) {
      const canonical = await readCanonicalExperts(checkpoint, layer);
      const gateUp = decodeWeights(canonical.gateUp, 'f32', canonical.gateUp.length / 4);
      const down = decodeWeights(canonical.down, 'f32', canonical.down.length / 4);
      const gateUpMask = await maskWords(masks, `layers.${layer}.experts.gate_up`);
      const downMask = await maskWords(masks, `layers.${layer}.experts.down`);
      for (const e of [0, 5]) {
        const x = stats.layers[layer]!.experts[e];
        const reference = pruneMasksReference({ method: 'moe-pruner', pattern: { kind: 'unstructured' }, group: 'row', sparsity: 0.5, seed: 3 }, [
          {
            label: 'up',
            rows: I,
            cols: H,
            weights: gateUp.slice((2 * e + 1) * I * H, (2 * e + 2) * I * H),
            columnFactors: columnFactors(x.inputSqNormGated, 'in'),
          },
          { label: 'down', rows: H, cols: I, weights: down.slice(e * H * I, (e + 1) * H * I), columnFactors: columnFactors(x.interSqNormGated, 'inter') },
        ]);
        for (let i = 0; i < I * H; i++) {
          if (bit(gateUpMask, (2 * e + 1) * I * H + i) !== bit(reference.masks[0], i)) throw new Error(`layer ${layer} expert ${e} up: element ${i} differs`);
          if (bit(downMask, e * H * I + i) !== bit(reference.masks[1], i)) throw new Error(`layer ${layer} expert ${e} down: element ${i} differs`);
        }
      }
    }
    // Same request again (statistics reused): the same masks, byte for byte.
    const again = await engine.prune(request());
    expect(again.calibration).toBeNull();
    expect(Buffer.compare(Buffer.from((await exported(engine, 'masks')).get('masks.safetensors')!), Buffer.from(masks))).toBe(0);
  });

  it('drops experts by their criterion, keeps N:M, and spreads OWL sparsity over layers', async () => {
    const engine = await engineOn();
    const dropped = await engine.prune(request({ expertsDrop: 2, expertCriterion: 'frequency' }));
    const stats = await readStats((await exported(engine, 'statistics')).get('calibration-stats.safetensors')!);
    for (const layer of dropped.layers) {
      const tokens = Array.from(stats.layers[layer.layer]!.expertTokens);
      const lowest = tokens
        .map((t, e) => [t, e])
        .sort((a, b) => a[0] - b[0] || a[1] - b[1])
        .slice(0, 2)
        .map(([, e]) => e)
        .sort((a, b) => a - b);
      expect(layer.droppedExperts).toEqual(lowest);
      for (const e of lowest) expect(layer.experts[e].pruned).toBe(layer.experts[e].weights);
    }

    await engine.prune(request({ pattern: { kind: 'n:m', n: 2, m: 4 } }));
    const words = await maskWords((await exported(engine, 'masks')).get('masks.safetensors')!, 'layers.1.experts.down');
    for (let block = 0; block < 512; block++)
      expect(bit(words, 4 * block) + bit(words, 4 * block + 1) + bit(words, 4 * block + 2) + bit(words, 4 * block + 3)).toBe(2);

    const owl = await engine.prune(request({ allocation: 'owl', method: 'wanda' }));
    const targets = owl.layers.map((l) => l.target);
    expect(targets[0]).not.toBe(targets[1]);
    expect((targets[0] + targets[1]) / 2).toBeCloseTo(0.5, 6);
  });

  it('sequential mode prunes layer 0 as dense mode does and layer 1 from pruned inputs', async () => {
    const engine = await engineOn();
    await engine.prune(request());
    const dense = (await exported(engine, 'masks')).get('masks.safetensors')!;
    await engine.prune(request({ calibration: { ...calibration, mode: 'sequential' } }));
    const sequential = (await exported(engine, 'masks')).get('masks.safetensors')!;
    expect(Array.from(await maskWords(sequential, 'layers.0.experts.down'))).toEqual(Array.from(await maskWords(dense, 'layers.0.experts.down')));
    expect(Array.from(await maskWords(sequential, 'layers.1.experts.down'))).not.toEqual(Array.from(await maskWords(dense, 'layers.1.experts.down')));
  });

  for (const [method, targets] of [
    ['moe-pruner', ['experts', 'attention']],
    ['sparsegpt', ['experts']],
  ] as const) {
    it(`the exported folder (${method}) computes what the pruned model computes; sweeps leave the masks alone`, async () => {
      const engine = await engineOn();
      await engine.prune(request({ method, targets: [...targets] }));
      const pruned = await engine.evaluate({ ...evaluation, byGenre: false, variants: ['dense', 'pruned'] });
      const [dense, masked] = pruned.results.map((r) => r.overall.ppl);
      expect(masked).not.toBeCloseTo(dense, 3);
      const folder = await exported(engine, 'model');
      expect([...folder.keys()].sort()).toEqual([
        'config.json',
        'masks.safetensors',
        'model.safetensors',
        'prune-report.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
      const report = JSON.parse(new TextDecoder().decode(folder.get('prune-report.json')));
      expect(report).toMatchObject({ format: 'moe-lab-prune-report/1', method, seed: 3, model: { name: 'm', architecture: 'mixtral' } });
      expect(report.files.map((f: { path: string }) => f.path)).toContain('model.safetensors');
      expect(report.achieved.matrices.map((m: { name: string }) => m.name)).toContain('layers.1.experts.7.down');

      const masksBefore = (await exported(engine, 'masks')).get('masks.safetensors')!;
      const point = await engine.sweepPoint({ prune: request({ method: 'magnitude', sparsity: 0.25 }), evaluate: evaluation });
      expect(point).toMatchObject({ method: 'magnitude', sparsity: 0.25 });
      expect(Buffer.compare(Buffer.from((await exported(engine, 'masks')).get('masks.safetensors')!), Buffer.from(masksBefore))).toBe(0);

      const reloaded = await engineOn(fileList((f) => folder.get(f)!));
      const fromExport = await reloaded.evaluate({ ...evaluation, byGenre: false, variants: ['dense'] });
      expect(fromExport.results[0].overall.ppl).toBeCloseTo(masked, 4);
    });
  }

  it("a sweep point's bytes on disk are the prune report's: neurons shrink the export, masks keep the dense size", async () => {
    const engine = await engineOn();
    const neurons = request({ method: 'wanda', sparsity: 0.25, structure: 'neurons' });
    const { accounting } = await engine.prune(neurons);
    expect(accounting!.pruned.diskBytes).toBeLessThan(accounting!.dense.diskBytes);
    const point = await engine.sweepPoint({ prune: neurons, evaluate: evaluation });
    expect(point.diskBytes).toEqual({ dense: accounting!.dense.diskBytes, pruned: accounting!.pruned.diskBytes });
    const masked = await engine.sweepPoint({ prune: request({ method: 'wanda', sparsity: 0.25 }), evaluate: evaluation });
    expect(masked.diskBytes).toEqual({ dense: accounting!.dense.diskBytes, pruned: accounting!.dense.diskBytes });
  });

  it("a quantization sweep point's bytes are the quantize report's, and the quantization in force stays", async () => {
    const engine = await engineOn();
    const rtn = (bits: QuantBits) => ({ ...QUANTIZE_DEFAULTS, method: 'rtn' as const, bits, avgBits: null });
    const three = await engine.quantizeWithSettings(rtn(3), null, {});
    const inForce = await engine.quantizedModel();
    const eight = await engine.sweepPoint({ quantize: { bits: 8 }, evaluate: evaluation });
    expect(eight).toMatchObject({ method: 'rtn', bits: 8, sparsity: 0 });
    expect(await engine.quantizedModel()).toBe(inForce);
    const point = await engine.sweepPoint({ quantize: { bits: 3 }, evaluate: evaluation });
    expect(point.diskBytes).toEqual({ dense: three.accounting.dense.diskBytes, pruned: three.accounting.quantized.diskBytes });
    expect(eight.diskBytes!.pruned).toBeGreaterThan(point.diskBytes!.pruned);
    // Fewer bits, further from the dense model (the tiny random model's perplexity need not order so).
    expect(eight.fidelity.kl).toBeLessThan(point.fidelity.kl);
    // As the Quantize step: not after SparseGPT (its updated weights would not be the ones quantized).
    await engine.prune(request({ method: 'sparsegpt' }));
    const refused = await errorOf(engine.sweepPoint({ quantize: { bits: 4 }, evaluate: evaluation }));
    expect(refused).toMatchObject({ kind: 'bad-request', message: expect.stringContaining('Quantizing after SparseGPT is not supported') });
  });

  it('an export with dropped experts removes them and still computes what the pruned model computes', async () => {
    const engine = await engineOn();
    await engine.prune(request({ expertsDrop: 2, expertCriterion: 'reap' }));
    const masked = (await engine.evaluate({ ...evaluation, byGenre: false, variants: ['pruned'] })).results[0].overall.ppl;
    const folder = await exported(engine, 'model');
    const reloaded = new LabService({ assetBase: SITE, fetch: siteFetch, openGpu: gpu, openCache: async () => null });
    const summary = await reloaded.loadModel({ kind: 'files', files: fileList((f) => folder.get(f)!) });
    expect(summary.spec.numExperts).toBe(6);
    const fromExport = await reloaded.evaluate({ ...evaluation, byGenre: false, variants: ['dense'] });
    expect(fromExport.results[0].overall.ppl).toBeCloseTo(masked, 4);
  });

  it('refuses what the pipeline cannot run, saying why', async () => {
    const engine = await engineOn();
    const shape = await errorOf(engine.prune(request({ method: 'magnitude', pattern: { kind: 'n:m', n: 3, m: 7 } })));
    expect(shape).toMatchObject({ kind: 'bad-request', message: expect.stringContaining('not a multiple of the N:M block 7') });
    const drop = await errorOf(engine.prune(request({ expertsDrop: 7 })));
    expect(drop).toMatchObject({ kind: 'bad-request', message: expect.stringContaining('at least top-k = 2 must remain') });
  });
});
