/**
 * The e2e tier's tiny model with a tokenizer (tests/fixtures/lab-tiny): served by route interception as an extra
 * embedded model, `lab-tiny`, listed in models/index.json next to the page's own entries. Files answer HEAD with
 * their size and GET with Range, as a static server does.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page, Route } from '@playwright/test';
import { expect } from './fixtures.ts';

const LAB_TINY = join(import.meta.dirname, '../fixtures/lab-tiny');

export const LAB_MODEL = { id: 'lab-tiny', name: 'Lab tiny (test model with tokenizer)' };

/** Answers `route` with a file's bytes, honouring HEAD and a single Range. */
export async function serveFile(route: Route, path: string): Promise<void> {
  const request = route.request();
  let bytes: Buffer;
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    bytes = readFileSync(path);
  } catch {
    return route.fulfill({ status: 404, body: 'Not Found' });
  }
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength), 'accept-ranges': 'bytes' };
  if (request.method() === 'HEAD') return route.fulfill({ status: 200, headers });
  const range = /^bytes=(\d+)-(\d+)$/.exec((await request.allHeaders())['range'] ?? '');
  if (!range) return route.fulfill({ status: 200, headers, body: bytes });
  const start = Number(range[1]);
  const end = Math.min(Number(range[2]), bytes.byteLength - 1);
  return route.fulfill({
    status: 206,
    headers: { ...headers, 'content-length': String(end - start + 1), 'content-range': `bytes ${start}-${end}/${bytes.byteLength}` },
    body: bytes.subarray(start, end + 1),
  });
}

/** Adds lab-tiny to the page's model list (as the default when `asDefault`). */
export async function serveLabModel(context: BrowserContext, options: { asDefault?: boolean } = {}): Promise<void> {
  await context.route(/\/models\/index\.json$/, async (route) => {
    const response = await route.fetch();
    const models = (await response.json()) as { id: string; default?: boolean }[];
    const entry = {
      id: LAB_MODEL.id,
      name: LAB_MODEL.name,
      path: `models/${LAB_MODEL.id}`,
      description: 'The Mixtral test fixture with a 512-token byte-level BPE (tests/fixtures/lab-tiny): random weights, for the e2e tests.',
      ...(options.asDefault ? { default: true } : {}),
    };
    const list = options.asDefault ? models.map(({ default: _unused, ...m }) => m) : models;
    await route.fulfill({ response, json: [...list, entry] });
  });
  await context.route(new RegExp(`/models/${LAB_MODEL.id}/([\\w.-]+)$`), (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop()!;
    return serveFile(route, join(LAB_TINY, name));
  });
}

/** Waits until the page shows `name` as the loaded model. */
export async function expectLoaded(page: Page, name: string): Promise<void> {
  await expect(page.getByRole('heading', { name: `Loaded model: ${name}` })).toBeVisible();
}

/** A panel's screenshot into test-results/screens/, without the sticky section bar drawn over it. */
export async function shot(page: Page, selector: string, name: string): Promise<void> {
  await page.locator(selector).screenshot({ path: `test-results/screens/${name}.png`, style: '.section-nav { position: static !important; }' });
}
