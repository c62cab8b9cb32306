/**
 * The page on a DeepSeek-V3 checkpoint (the hf-tiny deepseek_v3 fixture: multi-head latent attention, sigmoid
 * routing with e_score_correction_bias in 4 groups, routed_scaling_factor 2.5, a dense first layer; random
 * weights) with lab-tiny's 512-token tokenizer, served by routes as an extra embedded model: the router inspector
 * shows each chosen expert's sigmoid score apart from its weight g and how many tokens the correction bias moved,
 * and MoE-Pruner prunes it to 50%.
 */
import { mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from '@playwright/test';
import { expect, test } from './fixtures.ts';
import { expectLoaded, shot } from './lab-model.ts';
import { serveFile } from './serve-file.ts';

const FIXTURES = join(import.meta.dirname, '../fixtures');
const MODEL = { id: 'dsv3-tiny', name: 'Tiny DeepSeek-V3 (test model)' };
const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown.fiction&ctx=64&evaltokens=256';

async function serveDeepSeek(context: BrowserContext): Promise<void> {
  const dir = join(tmpdir(), `moe-lab-e2e-${MODEL.id}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  for (const name of ['config.json', 'model.safetensors']) copyFileSync(join(FIXTURES, 'hf-tiny/deepseek_v3', name), join(dir, name));
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(FIXTURES, 'lab-tiny', name), join(dir, name));
  await context.route(/\/models\/index\.json$/, async (route) => {
    const response = await route.fetch();
    const models = (await response.json()) as object[];
    const entry = {
      id: MODEL.id,
      name: MODEL.name,
      path: `models/${MODEL.id}`,
      description: 'hf-tiny deepseek_v3 with the lab-tiny tokenizer, for the e2e tests.',
    };
    await route.fulfill({ response, json: [...models, entry] });
  });
  await context.route(new RegExp(`/models/${MODEL.id}/([\\w.-]+)$`), (route) =>
    serveFile(route, join(dir, new URL(route.request().url()).pathname.split('/').pop()!)),
  );
}

test('inspect a DeepSeek-V3 router (scores, g and the bias-corrected choice apart), then prune it', async ({ page, context }) => {
  test.setTimeout(240_000);
  await serveDeepSeek(context);
  await page.goto(`/#v=1&model=embedded:${MODEL.id}&${SETTINGS}`);
  await expectLoaded(page, MODEL.name);

  await page.getByRole('button', { name: 'Inspect routing' }).click();
  const routing = page.getByRole('region', { name: 'Routing result' });
  await expect(routing).toContainText('through the dense model');
  await expect(routing.getByTestId('bias-choice')).toContainText(/the bias changed the chosen experts of \d+ of \d+ tokens in layer 1/);
  await routing.locator('.token').nth(3).hover();
  await expect(routing.getByRole('figure', { name: /Tokens coloured by expert/ }).getByTestId('hover-readout')).toContainText(
    /token 3 ".*": expert \d+ \(score 0\.\d{4}, g = \d\.\d{4}\).*correction bias/,
  );
  await shot(page, '#inspect', 'panel-inspect-deepseek');

  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');
});
