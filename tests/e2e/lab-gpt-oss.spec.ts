/**
 * The page on a gpt_oss checkpoint stored as the hub stores gpt-oss-20b (the hf-tiny gpt_oss_mxfp4 fixture: MXFP4
 * expert blocks + scales, attention sinks, a sliding-window layer (24 < the 64-token evaluation context) then a full
 * one, biased router with top-K-then-softmax, biased experts with the clamped SwiGLU; random weights) with
 * lab-tiny's 512-token tokenizer: the router inspector shows each token's four experts and their weights, Wanda
 * prunes it to 50%, and the downloaded folder keeps MXFP4 (the blocks U8 with pruned codes set to 0, the scales
 * byte for byte); dropping 2 experts per layer downloads a folder with 6 experts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { readZip } from '../helpers/zip-reader.ts';
import { expect, test } from './fixtures.ts';
import { inspectHfTinyModel, shot } from './lab-model.ts';

const MODEL = { id: 'gptoss-tiny', name: 'Tiny gpt-oss, MXFP4 experts (test model)', fixture: 'gpt_oss_mxfp4' };
const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=wanda&sparsity=0.5&eval=brown.fiction&ctx=64&evaltokens=256';
const FIXTURE = readFileSync(join(import.meta.dirname, '../fixtures/hf-tiny', MODEL.fixture, 'model.safetensors'));

interface Tensors {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  bytes: (name: string) => Buffer;
}

/** A safetensors file's header and each tensor's bytes. */
function safetensors(file: Buffer): Tensors {
  const length = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + length).toString('utf8')) as Tensors['header'];
  return { header, bytes: (name) => file.subarray(8 + length + header[name].data_offsets[0], 8 + length + header[name].data_offsets[1]) };
}

/** Prunes with the page's settings and downloads the model folder: its files by name. */
async function pruneAndDownload(page: Page): Promise<Map<string, Buffer>> {
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText(/\d+\.\d\d%/);
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download model folder (.zip)' }).click();
  const files = readZip(readFileSync(await (await download).path()));
  return new Map(files.map((f) => [f.name.split('/').pop()!, f.data]));
}

const blocks = (l: number, m: string) => `model.layers.${l}.mlp.experts.${m}_blocks`;
const scales = (l: number, m: string) => `model.layers.${l}.mlp.experts.${m}_scales`;

test('inspect a gpt_oss router, prune its MXFP4 experts and download them still in MXFP4', async ({ page, context }) => {
  test.setTimeout(300_000);
  const routing = await inspectHfTinyModel(page, context, MODEL, SETTINGS);
  await routing.locator('.token').nth(3).hover();
  // Top-4, then a softmax over those four (the router bias included in the logits).
  const slot = String.raw`expert \d+ \(g = 0\.\d{4}\)`;
  await expect(routing.getByRole('figure', { name: /Tokens coloured by expert/ }).getByTestId('hover-readout')).toContainText(
    new RegExp(`token 3 ".*": ${[slot, slot, slot, slot].join(', ')}; router entropy`),
  );
  await shot(page, '#inspect', 'panel-inspect-gpt-oss');

  const dense = safetensors(FIXTURE);
  const pruned = await pruneAndDownload(page);
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');
  const file = safetensors(pruned.get('model.safetensors')!);
  for (const l of [0, 1]) {
    for (const m of ['gate_up_proj', 'down_proj']) {
      expect(file.header[blocks(l, m)]).toEqual(dense.header[blocks(l, m)]); // U8 [E, R, C/32, 16]
      expect(file.bytes(scales(l, m)).equals(dense.bytes(scales(l, m)))).toBe(true);
      // Every code is the dense one or 0 (+0, exact in e2m1); Wanda at 50% per row zeroes half of the codes.
      const [was, now] = [dense.bytes(blocks(l, m)), file.bytes(blocks(l, m))];
      let zeroed = 0;
      const changed: string[] = []; // one expect for all codes: Playwright's expect is too slow to call per code
      for (let i = 0; i < was.length * 2; i++) {
        const [a, b] = [(was[i >> 1] >> (4 * (i & 1))) & 15, (now[i >> 1] >> (4 * (i & 1))) & 15];
        if (b !== a && b !== 0) changed.push(`code ${i}: ${a} -> ${b}`);
        if (b === 0 || b === 8) zeroed++;
      }
      expect(changed.slice(0, 5), `layer ${l} ${m}`).toEqual([]);
      expect(zeroed / (was.length * 2)).toBeGreaterThanOrEqual(0.5);
    }
  }

  await page.getByLabel('Experts dropped per layer').fill('2');
  const dropped = await pruneAndDownload(page);
  await expect(page.getByRole('region', { name: 'Pruning result' })).toContainText(/Dropped experts: layer 0: \d, \d; layer 1: \d, \d\./);
  expect(JSON.parse(dropped.get('config.json')!.toString('utf8')).num_local_experts).toBe(6);
  const smaller = safetensors(dropped.get('model.safetensors')!);
  expect(smaller.header[blocks(0, 'gate_up_proj')]).toMatchObject({ dtype: 'U8', shape: [6, 64, 2, 16] });
  expect(smaller.header[scales(1, 'down_proj')]).toMatchObject({ dtype: 'U8', shape: [6, 64, 1] });
});
