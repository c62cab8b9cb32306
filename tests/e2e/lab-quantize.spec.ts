/**
 * Quantization in the page (docs/quantization.md, "The page"): on brown-qmoe-3m (shipped beside the default; its
 * experts' 24 FFN columns hold 4-bit GPTQ words, the default's 12 do not), prune, then quantize the routed experts
 * to 4 bits by RTN in the Prune step. The default group of 32 inputs does not divide its down projections (24
 * inputs), which the page says, naming the sizes that fit. With groups of 8 the page
 * shows the quantized perplexity beside the dense and pruned ones and a smaller file than the dense one, the download
 * is a GPTQ checkpoint folder, and the share link carries qbits=4 and qgroup=8. Opening that link and pressing
 * "Reproduce this experiment" prunes, evaluates and quantizes again: the same quantized perplexity.
 */
import { readFileSync } from 'node:fs';
import { readZip } from '../helpers/zip-reader.ts';
import { expect, loadedHeading, test } from './fixtures.ts';

const MODEL = 'brown-qmoe-3m';

/** Small enough for SwiftShader: 8 x 32 calibration tokens, 256 evaluation tokens in windows of 64. */
const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown&ctx=64&evaltokens=256';

test('4-bit RTN after pruning: quantized perplexity and smaller bytes; a link with qbits reproduces it', async ({ page }) => {
  test.setTimeout(480_000);
  await page.goto(`/#v=1&model=embedded:${MODEL}&${SETTINGS}`);
  await expect(page.getByRole('heading', { name: loadedHeading(MODEL) })).toBeVisible();
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' })).toBeVisible({ timeout: 180_000 });

  await page.getByLabel('Quantize experts to').selectOption('4');
  await expect.poll(() => page.url()).toContain('qbits=4');
  const hint = page.getByLabel('Group sizes that fit');
  await expect(hint).toHaveText('Group sizes that divide every expert matrix of this model: 4, 8, 12, 24 — 32 does not; pick one of them.');
  await expect(hint).toHaveClass(/warn/);
  await page.getByRole('button', { name: 'Quantize', exact: true }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Quantization:' })).toContainText(
    /group size 32 does not divide the 24 input columns of .* experts down \(group sizes that divide every expert matrix of this model: 4, 8, 12, 24\)/,
    { timeout: 180_000 },
  );
  await page.getByLabel('Group size', { exact: true }).fill('8');
  await page.getByLabel('Group size', { exact: true }).press('Enter');
  await expect.poll(() => page.url()).toContain('qgroup=8');
  await expect(hint).toHaveText('Group sizes that divide every expert matrix of this model: 4, 8, 12, 24.');
  await page.getByRole('button', { name: 'Quantize', exact: true }).click();
  const table = page.getByRole('table', { name: 'Quantized model' });
  const quantized = table.getByTestId('quantize-quantized');
  await expect(quantized).toContainText('quantized after pruning', { timeout: 180_000 });
  const cells = async (id: string) => table.getByTestId(`quantize-${id}`).locator('td').allTextContents();
  const [, ppl, disk] = await cells('quantized');
  expect(Number(ppl)).toBeGreaterThan(1);
  const [, , denseDisk] = await cells('dense');
  expect(disk).not.toBe(denseDisk);
  // int4 codes and f16 scales per 8 inputs for every expert matrix: well under the dense file.
  expect(parseFloat((await page.getByTestId('quantize-disk-ratio').textContent())!)).toBeLessThan(70);

  // The download is the GPTQ checkpoint folder: quantization_config of 4-bit groups of 32, qweight tensors, the report.
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download the GPTQ folder (zip)' }).click();
  const files = new Map(readZip(readFileSync(await (await download).path())).map((f) => [f.name.split('/').pop()!, f.data]));
  const config = JSON.parse(files.get('config.json')!.toString('utf8')) as { quantization_config: Record<string, unknown> };
  expect(config.quantization_config).toMatchObject({ quant_method: 'gptq', bits: 4, group_size: 8, sym: true, desc_act: false });
  const weights = files.get('model.safetensors')!;
  const header = JSON.parse(weights.subarray(8, 8 + Number(weights.readBigUInt64LE(0))).toString('utf8')) as Record<string, unknown>;
  expect(Object.keys(header).some((name) => name.endsWith('.qweight'))).toBe(true);
  const report = JSON.parse(files.get('quantize-report.json')!.toString('utf8')) as { bits: number; masks: string };
  expect(report).toMatchObject({ bits: 4, masks: 'the pruning in force' });

  // The link reproduces the quantization (pruning first, as it says).
  const link = page.url();
  await page.goto('about:blank');
  await page.goto(link);
  await expect(page.getByRole('heading', { name: loadedHeading(MODEL) })).toBeVisible();
  await page.getByRole('button', { name: 'Reproduce this experiment' }).click();
  await expect(page.getByRole('table', { name: 'Quantized model' }).getByTestId('quantize-quantized')).toContainText(ppl, { timeout: 300_000 });
  expect(await cells('quantized')).toEqual(expect.arrayContaining([ppl, disk]));
});
