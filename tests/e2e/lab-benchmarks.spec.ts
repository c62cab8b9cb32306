/**
 * The Benchmarks step on the tiny model with a tokenizer (lab-tiny), opened from a share link that names its items
 * (bench=blimp.morphology&benchlimit=1: one pair per paradigm of the shipped BLiMP subset's morphology field): the
 * step shows that selection, and after pruning scores it with the dense and the pruned model: accuracy for both per
 * field, the flipped items' count, the chart; the link still carries the selection.
 */
import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel, shot } from './lab-model.ts';

const SETTINGS = 'text=brown.reviews&samples=1&seqlen=16&seed=1&mode=dense&method=magnitude&sparsity=0.5&bench=blimp.morphology&benchlimit=1';

test('a link naming BLiMP morphology, one pair per paradigm: dense and pruned accuracy per field, flipped items', async ({ page, context }) => {
  test.setTimeout(240_000);
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&${SETTINGS}`);
  await expectLoaded(page, LAB_MODEL.name);
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' })).toBeVisible();

  const panel = page.locator('#benchmarks');
  // The link's selection, as it named it.
  await expect(panel.getByLabel('Field or paradigm')).toHaveValue('blimp.morphology');
  await expect(panel.getByLabel('Items per paradigm')).toHaveValue('1');
  await panel.getByRole('button', { name: 'Run benchmarks' }).click();
  const result = page.getByRole('region', { name: 'Benchmark result' });
  // Morphology has 18 paradigms in BLiMP: 18 pairs, accuracy a multiple of 1/18 for each model.
  await expect(result.getByRole('row', { name: /^field: morphology 18 \d+\.\d% \d+\.\d%$/ })).toBeVisible();
  await expect(result.getByRole('heading', { name: /Flipped by pruning \(\d+\)/ })).toBeVisible();
  await expect.poll(() => decodeURIComponent(page.url())).toContain('bench=blimp.morphology&benchlimit=1');
  await shot(page, '#benchmarks', 'panel-benchmarks');
});
