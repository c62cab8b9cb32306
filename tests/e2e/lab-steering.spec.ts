/**
 * The router made visible on the tiny model with a tokenizer (lab-tiny, served by routes): a calibration set too
 * short to reach every expert shows the coverage warning next to the criteria views; switching experts off in
 * every layer adds the dense model steered beside the dense one, with a different continuation and its own
 * next-token probabilities, and the link carries them; forcing one expert (force=) changes it again; after pruning,
 * MoE-Pruner's masks against Wanda's.
 */
import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel, shot } from './lab-model.ts';

/** 1 x 16 calibration tokens: 32 routed assignments over 8 experts, so every expert is under the threshold. */
const SETTINGS = 'text=brown.reviews&samples=1&seqlen=16&seed=1&mode=dense&method=moe-pruner&sparsity=0.5';

test('a short calibration text warns about coverage; switching experts off changes the continuation; two methods disagree', async ({ page, context }) => {
  test.setTimeout(240_000);
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&${SETTINGS}`);
  await expectLoaded(page, LAB_MODEL.name);

  await page.getByRole('button', { name: 'Calibrate', exact: true }).click();
  const calibration = page.getByRole('region', { name: 'Calibration result' });
  await expect(calibration).toContainText('16 tokens (1 samples of 16)');
  await expect(calibration.getByRole('note', { name: 'Calibration coverage warning' })).toContainText(
    /Too few calibration tokens for some experts \(fewer than 32\)/,
  );
  await expect(calibration.getByRole('figure', { name: 'Expert criteria ranks' })).toBeVisible();
  await expect(calibration.getByRole('figure', { name: 'Criteria rank correlation' })).toBeVisible();
  await calibration.getByRole('figure', { name: 'Expert criteria ranks' }).locator('rect[data-value]').first().hover();
  await expect(calibration.getByRole('figure', { name: 'Expert criteria ranks' }).getByTestId('hover-readout')).toContainText(
    /layer 0, expert 0: rank \d of 8 by Frequency/,
  );
  await shot(page, '#calibrate', 'panel-calibrate-criteria');

  await page.getByLabel('Prompt').fill('The jury said');
  await page.getByLabel('New tokens').fill('8');
  await page.getByLabel('New tokens').press('Enter');
  for (const expert of ['0', '1', '2', '3']) {
    await page.getByLabel('Steering expert').selectOption(expert);
    await page.getByRole('button', { name: 'Switch off' }).click();
  }
  await expect(page.getByLabel('Switched-off experts')).toContainText('(*:0,*:1,*:2,*:3)');
  // The switched-off experts are part of the experiment: the share link carries them.
  await expect.poll(() => decodeURIComponent(page.url())).toContain('steer=*:0,*:1,*:2,*:3');
  await page.getByRole('button', { name: 'Generate' }).click();
  const dense = page.getByRole('region', { name: 'dense model continuation' });
  const steered = page.getByRole('region', { name: 'steered model continuation' });
  await expect(steered).toContainText(/\d+ tokens, greedy/);
  await expect(dense).toContainText(/\d+ tokens, greedy/);
  await expect(steered.getByRole('table', { name: 'steered next-token probabilities' })).toBeVisible();
  const denseText = await dense.locator('.generated-text').textContent();
  const steeredText = await steered.locator('.generated-text').textContent();
  expect(steeredText).not.toBe(denseText);
  await shot(page, '#evaluate', 'panel-evaluate-steering');

  // Forcing one expert instead: every token of every layer to expert 2 alone; the link carries force=.
  await page.getByRole('button', { name: 'Route as trained' }).click();
  await page.getByLabel('Steering expert').selectOption('2');
  await page.getByRole('button', { name: 'Force', exact: true }).click();
  await expect(page.getByLabel('Switched-off experts')).toContainText('Forced: expert 2 in every layer (*:2)');
  await expect.poll(() => decodeURIComponent(page.url())).toContain('force=*:2');
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect.poll(() => steered.locator('.generated-text').textContent()).not.toBe(steeredText);
  await expect(page.getByRole('button', { name: 'Generate' })).toBeEnabled();
  await expect(steered).toContainText(/\d+ tokens, greedy/);

  // Where MoE-Pruner (the link's method) and Wanda prune different weights.
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' })).toBeVisible();
  await expect(page.getByLabel('Compare with method')).toHaveValue('wanda');
  await page.getByRole('button', { name: 'Compare masks' }).click();
  const disagreement = page.getByRole('region', { name: 'Mask disagreement' });
  await expect(disagreement.getByLabel('Mask disagreement overall')).toContainText(/moe-pruner and wanda disagree on [\d.]+% of the pruned weights/);
  await expect(disagreement.getByRole('figure', { name: 'Mask disagreement per expert' })).toBeVisible();
  await shot(page, '#prune', 'panel-prune-disagreement');
});
