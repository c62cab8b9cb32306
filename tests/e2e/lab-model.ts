/**
 * The e2e tier's tiny model with a tokenizer (tests/fixtures/lab-tiny): served by route interception as an extra
 * embedded model, `lab-tiny`, listed in models/index.json next to the page's own entries. Files answer HEAD with
 * their size and GET with Range, as a static server does.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from '@playwright/test';
import { expect } from './fixtures.ts';
import { serveFile, serveFolder } from './serve-file.ts';

const LAB_TINY = join(import.meta.dirname, '../fixtures/lab-tiny');

export const LAB_MODEL = { id: 'lab-tiny', name: 'Lab tiny (test model with tokenizer)' };

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

/**
 * Adds an hf-tiny fixture (tests/fixtures/hf-tiny/<fixture>: config.json and model.safetensors, random weights)
 * with lab-tiny's 512-token tokenizer to the page's model list as embedded model `id`: how the e2e tier reaches
 * the families whose fixtures have no tokenizer of their own.
 */
export async function serveHfTinyModel(context: BrowserContext, model: { id: string; name: string; fixture: string }): Promise<void> {
  const fixtures = join(import.meta.dirname, '../fixtures');
  const files = new Map<string, Buffer>();
  for (const name of ['config.json', 'model.safetensors']) files.set(name, readFileSync(join(fixtures, 'hf-tiny', model.fixture, name)));
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) files.set(name, readFileSync(join(LAB_TINY, name)));
  await context.route(/\/models\/index\.json$/, async (route) => {
    const response = await route.fetch();
    const models = (await response.json()) as object[];
    const entry = {
      id: model.id,
      name: model.name,
      path: `models/${model.id}`,
      description: `hf-tiny ${model.fixture} with the lab-tiny tokenizer, for the e2e tests.`,
    };
    await route.fulfill({ response, json: [...models, entry] });
  });
  await context.route(new RegExp(`/models/${model.id}/([\\w.-]+)$`), (route) => serveFolder(route, files));
}

/**
 * Opens the page on an hf-tiny fixture (serveHfTinyModel) with the link's `settings`, waits for the model and runs
 * "Inspect routing" through the dense model: the routing result's region.
 */
export async function inspectHfTinyModel(
  page: Page,
  context: BrowserContext,
  model: { id: string; name: string; fixture: string },
  settings: string,
): Promise<Locator> {
  await serveHfTinyModel(context, model);
  await page.goto(`/#v=1&model=embedded:${model.id}&${settings}`);
  await expectLoaded(page, model.name);
  await page.getByRole('button', { name: 'Inspect routing' }).click();
  const routing = page.getByRole('region', { name: 'Routing result' });
  await expect(routing).toContainText('through the dense model');
  return routing;
}

/** Waits until the page shows `name` as the loaded model. */
export async function expectLoaded(page: Page, name: string): Promise<void> {
  await expect(page.getByRole('heading', { name: `Loaded model: ${name}` })).toBeVisible();
}

/** A panel's screenshot into test-results/screens/, without the sticky section bar drawn over it. */
export async function shot(page: Page, selector: string, name: string): Promise<void> {
  await page.locator(selector).screenshot({ path: `test-results/screens/${name}.png`, style: '.section-nav { position: static !important; }' });
}
