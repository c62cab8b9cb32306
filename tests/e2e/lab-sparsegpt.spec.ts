/** SparseGPT in the page: its block width and dampening, in the pruning and in the share link (lab-tiny, SwiftShader). */
import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel } from './lab-model.ts';

test('SparseGPT prunes 2:4 with a chosen block width, and the link carries it', async ({ page, context }) => {
  test.setTimeout(180_000);
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&text=brown.reviews&samples=8&seqlen=32&seed=1&pattern=2:4`);
  await expectLoaded(page, LAB_MODEL.name);
  await expect(page.getByLabel('Block width (columns)')).toHaveCount(0);
  await page.getByLabel('Method', { exact: true }).selectOption('sparsegpt');
  await expect(page.getByLabel('Block width (columns)')).toHaveValue('128');
  await expect(page.getByLabel('Dampening')).toHaveValue('0.01');
  await page.getByLabel('Block width (columns)').fill('32');
  await page.getByLabel('Dampening').fill('0.02');
  await expect(page).toHaveURL(/method=sparsegpt.*&blocksize=32&damp=0\.02/);
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%', { timeout: 120_000 });
  // A block width that is no multiple of the N:M group is refused with one line, and nothing else changes.
  await page.getByLabel('Block width (columns)').fill('30');
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('block size 30 is not a multiple of the N:M block 4');
});
