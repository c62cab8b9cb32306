import { expect, test } from '@playwright/test';

test('the shell loads and finds a WebGPU adapter', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'MoE Lab' })).toBeVisible();
  await expect(page.getByTestId('adapter')).toBeVisible();
  await page.screenshot({ path: 'test-results/screens/shell.png', fullPage: true });
  expect(errors).toEqual([]);
});
