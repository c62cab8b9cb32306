import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel } from './lab-model.ts';

const SMALL = 'samples=8&seqlen=32&seed=1&eval=brown&ctx=64&evaltokens=520';

test('draft: inspect, calibrate, evaluate on lab-tiny', async ({ page, context }) => {
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&${SMALL}&tour=1`);
  await expectLoaded(page, LAB_MODEL.name);
  await page.screenshot({ path: 'test-results/screens/tour.png' });
  await page.getByRole('dialog', { name: 'Guided tour' }).getByRole('button', { name: 'End the tour' }).click();
  await page.getByRole('button', { name: 'Inspect routing' }).click();
  await expect(page.getByRole('region', { name: 'Routing result' })).toBeVisible();
  await page.locator('#inspect').screenshot({ path: 'test-results/screens/inspect.png' });
  await page.getByRole('button', { name: 'Calibrate', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Calibration result' })).toBeVisible();
  await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Perplexity result' })).toBeVisible();
  await page.locator('#evaluate').screenshot({ path: 'test-results/screens/evaluate.png' });
  await page.locator('#calibrate').screenshot({ path: 'test-results/screens/calibrate.png' });
  await page.locator('#prune').screenshot({ path: 'test-results/screens/prune.png' });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: 'test-results/screens/top.png' });
});
