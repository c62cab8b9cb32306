/**
 * The whole flow on a tiny model with a tokenizer (lab-tiny, served by routes): calibrate -> prune 50% with
 * MoE-Pruner -> dense and pruned perplexity -> the share link opened in a fresh page reproduces the same numbers.
 * Along the way: the inspector with dense/pruned switching, exact values on hover, the per-token loss, generation,
 * a sweep, the downloads, and a screenshot of every panel.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel, shot } from './lab-model.ts';
import { readZip } from '../helpers/zip-reader.ts';

/** Small enough for SwiftShader: 8 x 32 calibration tokens from one genre, 520 evaluation tokens over 13 genres. */
const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown&ctx=64&evaltokens=520';

async function perplexities(page: Page): Promise<{ dense: string; pruned: string }> {
  const table = page.getByRole('table', { name: 'Perplexity' });
  await expect(table.getByTestId('ppl-pruned')).toBeVisible();
  return { dense: (await table.getByTestId('ppl-dense').textContent())!, pruned: (await table.getByTestId('ppl-pruned').textContent())! };
}

test('calibrate, prune 50% with MoE-Pruner, evaluate, and a shared link reproduces the numbers', async ({ page, context, browser }) => {
  test.setTimeout(300_000);
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&${SETTINGS}`);
  await expectLoaded(page, LAB_MODEL.name);

  // Calibrate.
  await page.getByRole('button', { name: 'Calibrate', exact: true }).click();
  const calibration = page.getByRole('region', { name: 'Calibration result' });
  await expect(calibration).toContainText('256 tokens (8 samples of 32)');
  // The load heatmap's own readout (the criteria views below it have theirs).
  const load = calibration.getByRole('figure', { name: 'Calibration expert load' });
  await load.locator('rect[data-value]').first().hover();
  await expect(load.getByTestId('hover-readout')).toContainText(/layer 0, expert 0: [\d.]+% of routed tokens \(\d+ tokens, mean gate/);
  await shot(page, '#calibrate', 'panel-calibrate');

  // Prune 50% with MoE-Pruner: exactly half of every expert row.
  await expect(page.getByLabel('Method', { exact: true })).toHaveValue('moe-pruner');
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  const pruning = page.getByRole('region', { name: 'Pruning result' });
  await expect(pruning.getByTestId('achieved-sparsity')).toHaveText('50.00%');
  await expect(page.getByRole('radiogroup', { name: 'Show the dense or the pruned model' }).first()).toBeVisible();
  await shot(page, '#prune', 'panel-prune');

  // Dense and pruned perplexity on the same windows, per genre.
  await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
  const first = await perplexities(page);
  expect(first.pruned).not.toBe(first.dense);
  await expect(page.getByRole('figure', { name: 'Perplexity per genre' })).toBeVisible();

  // Which tokens got harder, and the two models continuing one prompt.
  await page.getByRole('button', { name: 'Show per-token loss' }).click();
  await expect(page.getByRole('figure', { name: 'Per-token loss view' })).toContainText('red got harder');
  await page.getByLabel('Prompt').fill('The jury said');
  await page.getByLabel('New tokens').fill('8');
  await page.getByLabel('New tokens').press('Enter');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('region', { name: 'pruned model continuation' })).toContainText(/\d+ tokens, greedy/);
  await expect(page.getByRole('region', { name: 'dense model continuation' })).toContainText(/\d+ tokens, greedy/);
  await shot(page, '#evaluate', 'panel-evaluate');

  // The inspector shows both models and how routing drifted; switching is instant.
  await page.getByRole('button', { name: 'Inspect routing' }).click();
  const routing = page.getByRole('region', { name: 'Routing result' });
  await expect(routing).toContainText('through the pruned model');
  await expect(page.getByRole('figure', { name: 'Routing drift' })).toBeVisible();
  await page.getByRole('radiogroup', { name: 'Show the dense or the pruned model' }).first().getByText('Dense').click();
  await expect(routing).toContainText('through the dense model');
  await routing.locator('.token').nth(3).hover();
  await expect(routing.getByRole('figure', { name: /Tokens coloured by expert/ }).getByTestId('hover-readout')).toContainText(
    /token 3 ".*": expert \d+ \(g = 0\.\d{4}\)/,
  );
  await shot(page, '#inspect', 'panel-inspect');

  // A small sweep, drawn as points arrive, with its downloads.
  const sweep = page.getByRole('region', { name: 'Sweep' });
  await sweep.getByLabel('wanda').uncheck();
  await sweep.getByLabel('Sparsities').fill('0.5');
  await sweep.getByRole('button', { name: 'Run sweep' }).click();
  await expect(sweep.getByRole('figure', { name: 'Sweep chart' })).toContainText('2 of 2 points');
  await shot(page, '[aria-label="Sweep"]', 'panel-sweep');
  const csv = page.waitForEvent('download');
  await sweep.getByRole('button', { name: 'Download sweep (CSV)' }).click();
  const csvText = readFileSync(await (await csv).path(), 'utf8');
  expect(csvText.split('\r\n')[0]).toBe('method,sparsity,achieved_sparsity,tokens,mean_nll,perplexity,kl_vs_dense,top1_agreement,disk_bytes');
  expect(csvText).toContain('moe-pruner,0.5,0.5,');
  const svg = page.waitForEvent('download');
  await sweep.getByRole('button', { name: 'Download chart (SVG)' }).click();
  expect(readFileSync(await (await svg).path(), 'utf8')).toContain('<svg');

  // Downloads: the pruned model folder as a zip, and the masks.
  const zip = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download model folder (.zip)' }).click();
  const zipFile = await zip;
  expect(zipFile.suggestedFilename()).toMatch(/-moe-pruner-pruned\.zip$/);
  const zipBytes = readFileSync(await zipFile.path());
  expect(zipBytes.readUInt32LE(0)).toBe(0x04034b50);
  expect(zipBytes.toString('latin1')).toContain('prune-report.json');
  // "Save model folder to disk…": the engine writes into the folder as the export streams (an origin-private folder
  // stands in for the one the picker would give); the files are the zip's, byte for byte.
  await page.evaluate(() => {
    (window as unknown as { showDirectoryPicker: () => Promise<FileSystemDirectoryHandle> }).showDirectoryPicker = () => navigator.storage.getDirectory();
  });
  await page.getByRole('button', { name: 'Save model folder to disk…' }).click();
  const zipped = new Map(readZip(zipBytes).map((f) => [f.name.split('/').pop()!, createHash('sha256').update(f.data).digest('hex')]));
  const saved = (names: string[]) =>
    page.evaluate(async (names) => {
      const root = await navigator.storage.getDirectory();
      const hex = (b: ArrayBuffer) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
      const out: Record<string, string | null> = {};
      for (const name of names) {
        const file = await root.getFileHandle(name).then(
          (h) => h.getFile(),
          () => null,
        );
        out[name] = file ? hex(await crypto.subtle.digest('SHA-256', await file.arrayBuffer())) : null;
      }
      return out;
    }, names);
  await expect.poll(async () => (await saved(['prune-report.json']))['prune-report.json'] !== null, { timeout: 60_000 }).toBe(true);
  const names = ['config.json', 'model.safetensors', 'masks.safetensors'];
  expect(await saved(names)).toEqual(Object.fromEntries(names.map((n) => [n, zipped.get(n)])));
  await shot(page, '#model', 'panel-model-and-gpu');
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: 'test-results/screens/lab-page.png', fullPage: true });

  // The share link, opened in a fresh page, reproduces the same masks and numbers.
  await expect(page).toHaveURL(/method=moe-pruner&sparsity=0\.5/);
  const link = page.url();
  expect(link).toContain(`model=embedded:${LAB_MODEL.id}&hash=`);
  const fresh = await browser.newContext();
  await serveLabModel(fresh);
  const reader = await fresh.newPage();
  const readerErrors: string[] = [];
  reader.on('pageerror', (e) => readerErrors.push(e.message));
  await reader.goto(link);
  await expectLoaded(reader, LAB_MODEL.name);
  await expect(reader.getByRole('region', { name: 'Notes' })).toHaveCount(0);
  await reader.getByRole('button', { name: 'Reproduce this experiment' }).click();
  await expect(reader.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');
  expect(await perplexities(reader)).toEqual(first);
  expect(readerErrors).toEqual([]);
  await fresh.close();
});
