import { expect, test } from './fixtures.ts';

test('without WebGPU the page says what to do', async ({ page }) => {
  // navigator.gpu is a getter on Navigator.prototype: remove it before any page script runs.
  await page.addInitScript(() => {
    delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
    delete (navigator as unknown as { gpu?: unknown }).gpu;
  });
  await page.goto('/#v=1&method=wanda');
  await expect(page.getByRole('heading', { name: 'MoE Lab needs WebGPU' })).toBeVisible();
  await expect(page.getByRole('alert')).toContainText('navigator.gpu is missing');
  await expect(page.getByText('Chrome or Edge 113 or newer')).toBeVisible();
  await expect(page.getByText('chrome://flags/#enable-unsafe-webgpu')).toBeVisible();
  // No model panel without a GPU.
  await expect(page.getByRole('heading', { name: 'Model', exact: true })).toHaveCount(0);
  await page.screenshot({ path: 'test-results/screens/no-webgpu.png', fullPage: true });
});
