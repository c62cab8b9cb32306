/**
 * Streaming mode on the page: lab-tiny served as a Hugging Face repo (route interception, HEAD and Range) and opened
 * with a GPU memory budget below its weights (`?gpumem=`, docs/ui.md "Streaming mode"). Before anything is
 * downloaded the page says streaming mode, the size, the time per pass and the memory; the model loads by ranges,
 * the perplexity comes layer by layer and equals the resident page's (the same repo without the forced budget),
 * the GPU panel shows the layers streamed, and a second pass reads every range from Cache Storage (no request).
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from '@playwright/test';
import { expect, test } from './fixtures.ts';
import { serveFile } from './serve-file.ts';

const LAB_TINY = join(import.meta.dirname, '../fixtures/lab-tiny');
const REPO = 'test-org/lab-tiny';
/** lab-tiny's weights are 1938688 bytes: just below them, with room for one layer, the head and a small pass. */
const BUDGET = 1_900_000;
/** Short enough for SwiftShader: 128 evaluation tokens (split over the 13 genres) in windows of at most 32. */
const LINK = `#v=1&model=hub:${REPO}&eval=brown&ctx=32&evaltokens=128`;

/** Serves lab-tiny at https://huggingface.co/test-org/lab-tiny/resolve/main/*, logging each request with its range. */
async function fakeHub(context: BrowserContext, requests: string[]): Promise<void> {
  await context.route(/^https:\/\/huggingface\.co\//, async (route) => {
    const request = route.request();
    const range = (await request.allHeaders())['range'];
    requests.push(`${request.method()} ${request.url()}${range ? ` ${range}` : ''}`);
    const match = new RegExp(`^https://huggingface\\.co/${REPO}/resolve/main/([\\w.-]+)$`).exec(request.url());
    return serveFile(route, match ? join(LAB_TINY, match[1]) : '', {
      'access-control-allow-origin': '*',
      'access-control-expose-headers': 'content-length, content-range',
    });
  });
}

/** Every progress message the engine worker posts (the page shows each one in turn; SwiftShader passes them quickly). */
async function recordProgress(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const messages: string[] = ((window as unknown as { progressMessages: string[] }).progressMessages = []);
    const NativeWorker = window.Worker;
    window.Worker = class extends NativeWorker {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        this.addEventListener('message', (event: MessageEvent) => {
          if (event.data?.type === 'progress') messages.push(event.data.progress.message);
        });
      }
    };
  });
}

const progressMessages = (page: Page) => page.evaluate(() => (window as unknown as { progressMessages: string[] }).progressMessages);

const LAST_LAYER = 'Perplexity of the dense model: layer 2 of 2';

/** Runs Evaluate and waits for its result; on the streamed page, for its `streamedPass`-th pass through the last layer. */
async function evaluate(page: Page, streamedPass?: number): Promise<string> {
  const button = page.getByRole('button', { name: 'Evaluate', exact: true });
  await button.click();
  if (streamedPass) await expect.poll(async () => (await progressMessages(page)).filter((m) => m === LAST_LAYER).length).toBe(streamedPass);
  await expect(button).toBeEnabled();
  const cell = page.getByRole('table', { name: 'Perplexity' }).getByTestId('ppl-dense');
  await expect(cell).toBeVisible();
  return (await cell.textContent())!;
}

test('a model above the GPU memory budget loads in streaming mode and gives the resident perplexity', async ({ page, browser }) => {
  test.setTimeout(300_000);
  const requests: string[] = [];
  await fakeHub(page.context(), requests);
  await recordProgress(page);
  await page.goto(`/?gpumem=${BUDGET}${LINK}`);

  // Before any weight is downloaded: streaming mode, the size, the time per pass, the memory.
  const estimate = page.getByRole('region', { name: `Size of ${REPO}` });
  const notice = estimate.getByRole('note', { name: 'Streaming mode' });
  await expect(notice).toContainText('The weights of test-org/lab-tiny (1.8 MiB) exceed this tab');
  await expect(notice).toContainText('GPU memory budget (1.8 MiB)');
  await expect(notice).toContainText('2 decoder layers');
  await expect(notice.getByTestId('stream-time')).toContainText(
    /Estimated time per pass: about [\d.]+ (s|min|h) to read the weights once at [\d.]+ \w+\/s \(measured: .*\)\. An estimate/,
  );
  await expect(notice.getByTestId('stream-cache')).toContainText('kept in Cache Storage');
  const weightGets = () => requests.filter((r) => /^GET \S+\/model\.safetensors( |$)/.test(r));
  expect(weightGets().every((r) => /bytes=\d+-\d+$/.test(r))).toBe(true);
  await page.screenshot({ path: 'test-results/screens/stream-estimate.png', fullPage: true });

  await estimate.getByRole('button', { name: 'Load in streaming mode' }).click();
  await expect(page.getByRole('heading', { name: `Loaded model: ${REPO}` })).toBeVisible();
  await expect(page.locator('.summary').getByRole('note', { name: 'Streaming mode' })).toBeVisible();
  // Never the whole file: ranges only.
  expect(weightGets().every((r) => /bytes=\d+-\d+$/.test(r))).toBe(true);

  // The first pass: per-layer progress, the layers streamed through the GPU one at a time.
  const streamed = await evaluate(page, 1);
  expect(await progressMessages(page)).toEqual(expect.arrayContaining(['Perplexity of the dense model: layer 1 of 2', LAST_LAYER]));
  await expect(page.getByTestId('gpu-layers')).toHaveText('streamed, 0 of 2 layers resident (at most 1 at once)');
  await expect(page.getByTestId('gpu-budget')).toHaveText('1.8 MiB');
  await page.screenshot({ path: 'test-results/screens/stream-evaluated.png', fullPage: true });

  // The second pass reads every range from Cache Storage: not one request for the weights.
  const before = weightGets().length;
  expect(before).toBeGreaterThan(0);
  await page.getByLabel('per genre (split evenly)').uncheck();
  expect(await evaluate(page, 2)).toMatch(/^\d+\.\d{4}$/);
  expect(weightGets().length).toBe(before);

  // The resident page: the same repo in a fresh browser context without the forced budget, downloaded whole.
  const residentContext = await browser.newContext();
  try {
    await fakeHub(residentContext, []);
    const resident = await residentContext.newPage();
    await resident.goto(`/${LINK}`);
    const residentEstimate = resident.getByRole('region', { name: `Size of ${REPO}` });
    await expect(residentEstimate.getByRole('button', { name: /^Download .* and load$/ })).toBeVisible();
    await expect(residentEstimate.getByRole('note', { name: 'Streaming mode' })).toHaveCount(0);
    await residentEstimate.getByRole('button', { name: /^Download .* and load$/ }).click();
    await expect(resident.getByRole('heading', { name: `Loaded model: ${REPO}` })).toBeVisible();
    expect(await evaluate(resident)).toBe(streamed);
    await expect(resident.getByTestId('gpu-layers')).toHaveText('all 2 layers resident');
  } finally {
    await residentContext.close();
  }
});
