/**
 * The Recover step on the page, on a non-Mixtral model: brown-moe-3m (the first shipped model) restated as a
 * GraniteMoE checkpoint (granite-model.ts: fused experts, f16, Granite's names and routing rule), served by routes as
 * an extra embedded model. Refused before pruning; after pruning 50% with MoE-Pruner, Recover a few steps per layer —
 * the loss curves draw, Pause and Resume continue the run, and once finished the dense, pruned and distilled
 * perplexities stand side by side: distilled below pruned, with the share of the gap recovered.
 * tests/gpu/distill-recover.test.ts runs the same engine calls in Node.
 */
import type { BrowserContext } from '@playwright/test';
import { expect, test } from './fixtures.ts';
import { graniteFromBrownMoe3m } from './granite-model.ts';
import { expectLoaded, shot } from './lab-model.ts';
import { serveFolder } from './serve-file.ts';

const GRANITE = { id: 'brown-granite', name: 'Brown MoE as GraniteMoE (test model)' };
const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown.fiction&ctx=64&evaltokens=256';

/** Adds the Granite restatement of brown-moe-3m to the page's model list. */
async function serveGranite(context: BrowserContext): Promise<void> {
  const files = graniteFromBrownMoe3m();
  await context.route(/\/models\/index\.json$/, async (route) => {
    const response = await route.fetch();
    const models = (await response.json()) as object[];
    const entry = {
      id: GRANITE.id,
      name: GRANITE.name,
      path: `models/${GRANITE.id}`,
      description: 'brown-moe-3m as a GraniteMoE checkpoint, for the e2e tests.',
    };
    await route.fulfill({ response, json: [...models, entry] });
  });
  await context.route(new RegExp(`/models/${GRANITE.id}/([\\w.-]+)$`), (route) => serveFolder(route, files));
}

test('prune a GraniteMoE model, then recover with live curves, pause / resume, and a lower perplexity', async ({ page, context }) => {
  test.setTimeout(300_000);
  await serveGranite(context);
  await page.goto(`/#v=1&model=embedded:${GRANITE.id}&${SETTINGS}`);
  await expectLoaded(page, GRANITE.name);
  const recover = page.locator('#recover');
  await expect(recover.getByRole('button', { name: 'Recover', exact: true })).toBeDisabled();
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');

  await recover.getByLabel('Windows', { exact: true }).fill('8');
  await recover.getByLabel('Window (tokens)').fill('32');
  await recover.getByLabel('Steps per layer').fill('3');
  await recover.getByLabel('Learning rate').fill('0.003');
  await recover.getByLabel('Windows per step').fill('2');
  await recover.getByLabel('Windows per step').press('Enter');
  await recover.getByRole('button', { name: 'Recover', exact: true }).click();
  await expect(recover.getByRole('figure', { name: 'Distillation loss curves' })).toBeVisible();
  await recover.getByRole('button', { name: 'Pause' }).click();
  await expect(recover.getByRole('button', { name: 'Resume' })).toBeEnabled();
  await expect(recover.getByRole('region', { name: 'Recover result' })).toContainText(/Step \d+ of 12/); // 3 steps x 4 MoE layers
  await recover.getByRole('button', { name: 'Resume' }).click();
  const table = recover.getByRole('table', { name: 'Perplexity before and after recovery' });
  await expect(table.getByTestId('recover-ppl-distilled')).toHaveText(/^\d+\.\d{4}$/, { timeout: 240_000 });
  await expect(recover.getByRole('region', { name: 'Recover result' })).toContainText('Step 12 of 12');
  const ppl = async (name: string) => Number(await table.getByTestId(`recover-ppl-${name}`).textContent());
  const [dense, pruned, distilled] = [await ppl('dense'), await ppl('pruned'), await ppl('distilled')];
  expect(pruned).toBeGreaterThan(dense);
  expect(distilled).toBeLessThan(pruned);
  await expect(recover.getByTestId('recover-gap')).toContainText(/^Recovered \d+\.\d% of the perplexity gap/);
  await shot(page, '#recover', 'panel-recover');
});
