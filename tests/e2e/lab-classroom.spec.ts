/**
 * Classroom options: hide= removes controls, and tour=1 walks a class through the lesson on the page's default model:
 * routing, one expert switched off (the steered continuation differs from the dense one), calibration on a text too
 * short to reach every expert (the criteria views and the coverage warning), MoE-Pruner's masks against Wanda's,
 * perplexity and the generated sentence before and after pruning.
 */
import { DEFAULT_MODEL, expect, test } from './fixtures.ts';
import { expectLoaded, shot } from './lab-model.ts';

/** Each step's computation on SwiftShader (the model runs on the CPU, shared with other work): up to a few minutes. */
const STEP = { timeout: 240_000 };

test('the guided tour walks through the lesson on the default model, with controls hidden for a class', async ({ page }) => {
  test.setTimeout(900_000);
  // The page's real default model and a plain link with tour=1, as a teacher would hand out (small windows:
  // SwiftShader runs the model on the CPU; 2 x 16 calibration tokens reach no expert 32 times, so the coverage
  // warning shows).
  await page.goto('/#v=1&samples=2&seqlen=16&text=brown.reviews&ctx=64&evaltokens=128&tour=1&hide=method,sparsity,pattern,group,calibration,model-source');
  await expectLoaded(page, DEFAULT_MODEL.name);
  // Hidden controls are gone; the buttons stay.
  for (const label of ['Method', 'Sparsity', 'Pattern', 'Samples', 'Calibration text']) await expect(page.getByLabel(label, { exact: true })).toHaveCount(0);
  await expect(page.getByLabel('Hugging Face repo id or URL')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Prune', exact: true })).toBeVisible();

  const tour = page.getByRole('dialog', { name: 'Guided tour' });
  const next = () => tour.getByRole('button', { name: 'Next' }).click();
  await expect(tour).toContainText('Step 1 of 11');
  await page.screenshot({ path: 'test-results/screens/tour-step-1.png' });
  await next();
  await tour.getByRole('button', { name: 'Route the text' }).click();
  await expect(page.getByRole('region', { name: 'Routing result' })).toBeVisible(STEP);

  // One expert switched off: the steered continuation beside the dense one, and it differs.
  await next();
  await expect(tour).toContainText('Switch one expert off');
  await tour.getByRole('button', { name: `Generate with expert ${DEFAULT_MODEL.lessonExpert} off` }).click();
  const dense = page.getByRole('region', { name: 'dense model continuation' });
  const steered = page.getByRole('region', { name: 'steered model continuation' });
  await expect(steered).toContainText(/8 tokens, greedy/, STEP);
  await expect(dense).toContainText(/8 tokens, greedy/, STEP);
  expect(await steered.locator('.generated-text').textContent()).not.toBe(await dense.locator('.generated-text').textContent());
  await expect(page.getByLabel('Switched-off experts')).toContainText(`(*:${DEFAULT_MODEL.lessonExpert})`);
  await shot(page, '#evaluate', 'tour-steering');

  // Calibration: the criteria views, and the coverage warning of a text too short for every expert.
  await next();
  await tour.getByRole('button', { name: 'Calibrate' }).click();
  const calibration = page.getByRole('region', { name: 'Calibration result' });
  await expect(calibration.getByRole('note', { name: 'Calibration coverage warning' })).toContainText(/Too few calibration tokens for some experts/, STEP);
  await expect(calibration.getByRole('figure', { name: 'Expert criteria ranks' })).toBeVisible();
  await expect(calibration.getByRole('figure', { name: 'Criteria rank correlation' })).toBeVisible();

  await next();
  await expect(tour).toContainText('Score every weight');
  await tour.getByRole('button', { name: 'Prune 50% with MoE-Pruner' }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%', STEP);

  // Where MoE-Pruner's and Wanda's masks differ.
  await next();
  await tour.getByRole('button', { name: "Compare with Wanda's masks" }).click();
  const disagreement = page.getByRole('region', { name: 'Mask disagreement' });
  await expect(disagreement.getByLabel('Mask disagreement overall')).toContainText(/moe-pruner and wanda disagree on [\d.]+% of the pruned weights/, STEP);
  await expect(disagreement.getByRole('figure', { name: 'Mask disagreement per expert' })).toBeVisible();

  await next();
  await tour.getByRole('button', { name: 'Measure perplexity' }).click();
  await expect(page.getByRole('table', { name: 'Perplexity' }).getByTestId('ppl-pruned')).toBeVisible(STEP);
  await shot(page, '#evaluate', 'tour-evaluate');

  // The sentence after pruning, beside the dense one.
  await next();
  await tour.getByRole('button', { name: 'Generate after pruning' }).click();
  await expect(page.getByRole('region', { name: 'pruned model continuation' })).toContainText(/8 tokens, greedy/, STEP);
  await expect(page.getByRole('region', { name: 'steered model continuation' })).toContainText(/8 tokens, greedy/, STEP);
  await page.screenshot({ path: 'test-results/screens/tour-generate-after.png' });

  await tour.getByRole('button', { name: 'End the tour' }).click();
  await expect(tour).toHaveCount(0);
  await expect(page).not.toHaveURL(/tour=1/);
  await expect(page).toHaveURL(/hide=model-source,calibration,method,sparsity,pattern,group/);
  // The steering stays in the link the teacher can copy.
  await expect.poll(() => decodeURIComponent(page.url())).toContain(`steer=*:${DEFAULT_MODEL.lessonExpert}`);
});
