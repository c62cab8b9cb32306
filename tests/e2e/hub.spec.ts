import { join } from 'node:path';
import type { BrowserContext } from '@playwright/test';
import { expect, LOADED_DEFAULT, test } from './fixtures.ts';
import { serveFile } from './serve-file.ts';

const QWEN = join(import.meta.dirname, '../fixtures/hf-tiny/qwen2_moe');

/** Serves https://huggingface.co/test-org/tiny-qwen/resolve/main/* from a fixture folder (HEAD, Range), offline. */
async function fakeHub(context: BrowserContext, requests: string[], options: { offline?: boolean; stallWeights?: Promise<void> } = {}) {
  await context.route(/^https:\/\/huggingface\.co\//, async (route) => {
    const request = route.request();
    requests.push(`${request.method()} ${request.url()}`);
    if (options.offline) return route.abort('internetdisconnected');
    if (options.stallWeights && request.method() === 'GET' && request.url().endsWith('model.safetensors')) await options.stallWeights;
    const match = /^https:\/\/huggingface\.co\/test-org\/tiny-qwen\/resolve\/main\/([\w.-]+)$/.exec(request.url());
    return serveFile(route, match ? join(QWEN, match[1]) : '', {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'content-length, content-range',
    });
  });
}

test('a Hugging Face repo: size and fit first, download only when asked', async ({ page, context }) => {
  const requests: string[] = [];
  await fakeHub(context, requests);
  await page.goto('/');
  await expect(page.getByRole('table', { name: 'Model summary' })).toBeVisible();
  await page.getByLabel('Hugging Face repo id or URL').fill('https://huggingface.co/test-org/tiny-qwen');
  await page.getByRole('button', { name: 'Check size' }).click();
  const estimate = page.getByRole('region', { name: 'Size of test-org/tiny-qwen' });
  await expect(estimate).toContainText('qwen2_moe, 2 layers, 8 experts (top-2)');
  await expect(estimate).toContainText('fits this GPU');
  // Only config.json was read whole; the weights were only sized.
  expect(requests.filter((r) => r.startsWith('GET') && r.endsWith('model.safetensors'))).toEqual([]);
  await page.screenshot({ path: 'test-results/screens/hub-estimate.png', fullPage: true });
  await estimate.getByRole('button', { name: /^Download .* and load$/ }).click();
  await expect(page.getByRole('heading', { name: 'Loaded model: test-org/tiny-qwen' })).toBeVisible();
  await expect(page.getByRole('table', { name: 'Model summary' }).getByRole('row', { name: /Shared expert/ })).toContainText('gated');
  await expect(page).toHaveURL(/model=hub:test-org\/tiny-qwen&hash=[0-9a-f]{16}/);
});

test('a link to a Hugging Face model checks its size but downloads nothing by itself', async ({ page, context }) => {
  const requests: string[] = [];
  await fakeHub(context, requests);
  await page.goto('/#v=1&model=hub:test-org/tiny-qwen');
  await expect(page.getByRole('region', { name: 'Size of test-org/tiny-qwen' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Notes' })).toContainText('check its size below, then load it');
  await expect(page.getByLabel('Hugging Face repo id or URL')).toHaveValue('test-org/tiny-qwen');
  expect(requests.filter((r) => r.startsWith('GET') && r.endsWith('model.safetensors'))).toEqual([]);
  await expect(page.getByRole('table', { name: 'Model summary' })).toHaveCount(0);
});

test('a repo that is not there says so', async ({ page, context }) => {
  await fakeHub(context, []);
  await page.goto('/');
  await page.getByLabel('Hugging Face repo id or URL').fill('test-org/missing');
  await page.getByRole('button', { name: 'Check size' }).click();
  await expect(page.getByRole('alert')).toContainText('test-org/missing/config.json: not found');
});

test('a downloaded repo is reused from Cache Storage with no network', async ({ page, context }) => {
  await fakeHub(context, []);
  await page.goto('/#v=1&model=hub:test-org/tiny-qwen');
  await page
    .getByRole('region', { name: 'Size of test-org/tiny-qwen' })
    .getByRole('button', { name: /and load$/ })
    .click();
  await expect(page.getByRole('heading', { name: 'Loaded model: test-org/tiny-qwen' })).toBeVisible();
  const link = page.url();

  await context.unrouteAll();
  const offlineRequests: string[] = [];
  await fakeHub(context, offlineRequests, { offline: true });
  await page.goto('about:blank');
  await page.goto(link);
  const estimate = page.getByRole('region', { name: 'Size of test-org/tiny-qwen' });
  await expect(estimate).toContainText('(cached)');
  await estimate.getByRole('button', { name: 'Load' }).click();
  await expect(page.getByRole('heading', { name: 'Loaded model: test-org/tiny-qwen' })).toBeVisible();
  // The link's hash matches: no note about a changed model.
  await expect(page.getByRole('region', { name: 'Notes' })).not.toContainText('has changed');
  expect(offlineRequests).toEqual([]);
});

test('a download in progress shows per-file and total bars, and Cancel stops it', async ({ page, context }) => {
  let release!: () => void;
  const stall = new Promise<void>((resolve) => (release = resolve));
  await fakeHub(context, [], { stallWeights: stall });
  await page.goto('/');
  await expect(page.getByRole('table', { name: 'Model summary' })).toBeVisible();
  await page.getByLabel('Hugging Face repo id or URL').fill('test-org/tiny-qwen');
  await page.getByRole('button', { name: 'Check size' }).click();
  await page.getByRole('button', { name: /^Download .* and load$/ }).click();
  const task = page.getByRole('region', { name: 'Loading test-org/tiny-qwen' });
  await expect(task.getByRole('progressbar', { name: 'Overall' })).toBeVisible();
  await expect(task.getByRole('progressbar', { name: 'model.safetensors' })).toBeVisible();
  await expect(task.getByRole('progressbar', { name: 'config.json' })).toBeVisible();
  await page.screenshot({ path: 'test-results/screens/hub-downloading.png', fullPage: true });
  await task.getByRole('button', { name: 'Cancel' }).click();
  await expect(task).toHaveCount(0);
  release();
  // Still the model that was loaded before.
  await expect(page.getByRole('heading', { name: LOADED_DEFAULT })).toBeVisible();
  await expect(page.getByRole('alert')).toHaveCount(0);
});
