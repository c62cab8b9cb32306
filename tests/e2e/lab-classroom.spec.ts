/** Classroom options: hide= removes controls, and tour=1 walks through router-guided pruning on the default model. */
import { DEFAULT_MODEL, expect, test } from './fixtures.ts';
import { expectLoaded, shot } from './lab-model.ts';

test('the guided tour walks through router-guided pruning, with controls hidden for a class', async ({ page }) => {
  test.setTimeout(240_000);
  // The page's real default model and a plain link with tour=1, as a teacher would hand out (small windows:
  // SwiftShader runs the model on the CPU).
  await page.goto('/#v=1&samples=8&seqlen=32&text=brown.reviews&ctx=64&evaltokens=128&tour=1&hide=method,sparsity,pattern,group,calibration,model-source');
  await expectLoaded(page, DEFAULT_MODEL.name);
  // Hidden controls are gone; the buttons stay.
  for (const label of ['Method', 'Sparsity', 'Pattern', 'Samples', 'Calibration text']) await expect(page.getByLabel(label, { exact: true })).toHaveCount(0);
  await expect(page.getByLabel('Hugging Face repo id or URL')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Prune', exact: true })).toBeVisible();

  const tour = page.getByRole('dialog', { name: 'Guided tour' });
  await expect(tour).toContainText('Step 1 of 8');
  await page.screenshot({ path: 'test-results/screens/tour-step-1.png' });
  await tour.getByRole('button', { name: 'Next' }).click();
  await tour.getByRole('button', { name: 'Route the text' }).click();
  await expect(page.getByRole('region', { name: 'Routing result' })).toBeVisible();
  await tour.getByRole('button', { name: 'Next' }).click();
  await tour.getByRole('button', { name: 'Calibrate' }).click();
  await expect(page.getByRole('region', { name: 'Calibration result' })).toBeVisible();
  await tour.getByRole('button', { name: 'Next' }).click();
  await expect(tour).toContainText('Score every weight');
  await tour.getByRole('button', { name: 'Prune 50% with MoE-Pruner' }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');
  await tour.getByRole('button', { name: 'Next' }).click();
  await tour.getByRole('button', { name: 'Measure perplexity' }).click();
  await expect(page.getByRole('table', { name: 'Perplexity' }).getByTestId('ppl-pruned')).toBeVisible();
  await shot(page, '#evaluate', 'tour-evaluate');
  await page.screenshot({ path: 'test-results/screens/tour-step-5.png' });
  await tour.getByRole('button', { name: 'End the tour' }).click();
  await expect(tour).toHaveCount(0);
  await expect(page).not.toHaveURL(/tour=1/);
  await expect(page).toHaveURL(/hide=model-source,calibration,method,sparsity,pattern,group/);
});
