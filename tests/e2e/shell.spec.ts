import { DEFAULT_MODEL, expect, LOADED_DEFAULT, test } from './fixtures.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const MIXTRAL = join(import.meta.dirname, '../fixtures/hf-tiny/mixtral');

test('first visit: the default model loads with no click and its summary shows', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'MoE Lab', level: 1 })).toBeVisible();
  await expect(page.getByTestId('adapter')).toBeVisible();
  const summary = page.getByRole('table', { name: 'Model summary' });
  await expect(summary.getByRole('row', { name: /Architecture/ })).toContainText(DEFAULT_MODEL.architecture);
  await expect(summary.getByRole('row', { name: /Experts/ })).toContainText(`${DEFAULT_MODEL.experts}, top-${DEFAULT_MODEL.topK} per token`);
  await expect(summary.getByRole('row', { name: /Layers/ })).toContainText(String(DEFAULT_MODEL.layers));
  await expect(page.getByRole('heading', { name: LOADED_DEFAULT })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Adapter features and limits' })).toContainText('Largest storage binding');
  // The share link now names the model and its content hash.
  await expect(page).toHaveURL(new RegExp(`#v=1&model=embedded:${DEFAULT_MODEL.id}&hash=[0-9a-f]{16}&`));
  await expect(page.getByRole('region', { name: 'Notes' })).toHaveCount(0);
  await page.screenshot({ path: 'test-results/screens/shell.png', fullPage: true });
});

test('a malformed share link shows its notes and still loads', async ({ page }) => {
  await page.goto('/#v=1&model=embedded:test-tiny-mixtral&hash=0000000000000000&sparsity=lots&method=sorcery&frobnicate=1&pattern=9:4');
  const notes = page.getByRole('region', { name: 'Notes' });
  await expect(notes).toContainText('sparsity="lots" is not a number');
  await expect(notes).toContainText('method="sorcery" is not one of');
  await expect(notes).toContainText('Ignored the unknown parameter "frobnicate"');
  await expect(notes).toContainText('pattern="9:4"');
  await expect(page.getByRole('table', { name: 'Model summary' }).getByRole('row', { name: /Architecture/ })).toContainText('mixtral');
  // The link's hash belongs to no real model: the page says the model changed.
  await expect(notes).toContainText('content hash was 0000000000000000');
  // The address bar is rewritten to the clean, canonical link.
  await expect(page).toHaveURL(/method=moe-pruner&sparsity=0\.5&pattern=unstructured/);
  await page.screenshot({ path: 'test-results/screens/share-link-notes.png', fullPage: true });
  await notes.getByRole('button', { name: /Dismiss: Ignored the unknown parameter/ }).click();
  await expect(notes).not.toContainText('frobnicate');
});

test('a corrupt safetensors file shows a one-line error naming the file', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('table', { name: 'Model summary' })).toBeVisible();
  const weights = readFileSync(join(MIXTRAL, 'model.safetensors'));
  const corrupt = Buffer.from(weights.subarray(0, 4000));
  corrupt.write('!!', 8); // the header no longer starts with '{'
  await page.getByLabel('Choose model files…').setInputFiles([
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(join(MIXTRAL, 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: corrupt },
  ]);
  const alert = page.getByRole('alert');
  await expect(alert).toContainText(/^model\.safetensors: /);
  const text = (await alert.textContent()) ?? '';
  expect(text.split('\n')).toHaveLength(1);
  // The model that was loaded stays.
  await expect(page.getByRole('heading', { name: LOADED_DEFAULT })).toBeVisible();
  await page.screenshot({ path: 'test-results/screens/corrupt-file.png', fullPage: true });
});

test('valid dropped-in files load and hash like the embedded copy', async ({ page }) => {
  // public/models/test-tiny-mixtral is a copy of the hf-tiny mixtral fixture.
  await page.goto('/#v=1&model=embedded:test-tiny-mixtral');
  const hashCell = page.getByRole('table', { name: 'Model summary' }).getByRole('row', { name: /Content hash/ });
  await expect(hashCell).toContainText(/[0-9a-f]{16}/);
  const embeddedHash = await hashCell.textContent();
  await page.getByLabel('Choose model files…').setInputFiles([join(MIXTRAL, 'config.json'), join(MIXTRAL, 'model.safetensors')]);
  await expect(page.getByRole('heading', { name: 'Loaded model: dropped files' })).toBeVisible();
  await expect(hashCell).toHaveText(embeddedHash!);
  await expect(page).toHaveURL(/model=files:dropped%20files&hash=/);
});

test('files dropped on the drop zone load', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('table', { name: 'Model summary' })).toBeVisible();
  const config = readFileSync(join(MIXTRAL, 'config.json')).toString('base64');
  const weights = readFileSync(join(MIXTRAL, 'model.safetensors')).toString('base64');
  // A synthetic drop: the DataTransfer carries File objects, as a drag from the desktop does.
  const data = await page.evaluateHandle(
    ([config, weights]) => {
      const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes(config)], 'config.json'));
      transfer.items.add(new File([bytes(weights)], 'renamed.safetensors'));
      return transfer;
    },
    [config, weights],
  );
  const zone = page.getByRole('region', { name: 'Drop a model folder or files here' });
  await zone.dispatchEvent('dragover', { dataTransfer: data });
  await zone.dispatchEvent('drop', { dataTransfer: data });
  await expect(page.getByRole('heading', { name: 'Loaded model: dropped files' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Model summary' }).getByRole('row', { name: /Content hash/ })).toContainText('920758bafa84a7e1');
});

test('hide= removes controls for a classroom, and the link keeps it', async ({ page }) => {
  await page.goto('/#v=1&hide=gpu,share,model-source');
  await expect(page.getByRole('table', { name: 'Model summary' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'GPU' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Copy share link' })).toHaveCount(0);
  await expect(page.getByLabel('Hugging Face repo id or URL')).toHaveCount(0);
  await expect(page).toHaveURL(/&hide=model-source,gpu,share$/);
  await page.screenshot({ path: 'test-results/screens/classroom-hidden.png', fullPage: true });
});
