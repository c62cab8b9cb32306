/**
 * The Benchmarks step on the tiny model with a tokenizer (lab-tiny): after pruning, one pair per paradigm of the
 * shipped BLiMP subset's morphology field scored by the dense and the pruned model: accuracy for both per field,
 * the flipped items' count, the chart.
 */
import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel, shot } from './lab-model.ts';

const SETTINGS = 'text=brown.reviews&samples=1&seqlen=16&seed=1&mode=dense&method=magnitude&sparsity=0.5';

test('BLiMP morphology, one pair per paradigm: dense and pruned accuracy per field, flipped items', async ({ page, context }) => {
  test.setTimeout(240_000);
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&${SETTINGS}`);
  await expectLoaded(page, LAB_MODEL.name);
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' })).toBeVisible();

  const panel = page.locator('#benchmarks');
  await panel.getByLabel('Field').selectOption('morphology');
  await panel.getByLabel('Items per paradigm').fill('1');
  await panel.getByLabel('Items per paradigm').press('Enter');
  await panel.getByRole('button', { name: 'Run benchmarks' }).click();
  const result = page.getByRole('region', { name: 'Benchmark result' });
  // Morphology has 18 paradigms in BLiMP: 18 pairs, accuracy a multiple of 1/18 for each model.
  await expect(result.getByRole('row', { name: /^field: morphology 18 \d+\.\d% \d+\.\d%$/ })).toBeVisible();
  await expect(result.getByRole('heading', { name: /Flipped by pruning \(\d+\)/ })).toBeVisible();
  await shot(page, '#benchmarks', 'panel-benchmarks');
});
