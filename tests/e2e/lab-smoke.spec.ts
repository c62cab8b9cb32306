/**
 * Smoke test on the page's real default model (whatever public/models/index.json marks default): it loads by
 * itself, the page offers Calibrate, Prune and Evaluate, and a pruning runs — on a model without a tokenizer
 * with magnitude pruning (which needs no text), and the text features say why they are off.
 */
import { expect, test } from './fixtures.ts';
import { shot } from './lab-model.ts';

test('the default model loads by itself and the lab offers calibrate, prune and evaluate', async ({ page }) => {
  // A short evaluation: SwiftShader runs the default model's forward on the CPU.
  await page.goto('/#v=1&method=magnitude&sparsity=0.25&ctx=64&evaltokens=256');
  const summary = page.getByRole('table', { name: 'Model summary' });
  await expect(summary).toBeVisible();
  for (const name of ['Calibrate', 'Prune', 'Evaluate']) await expect(page.getByRole('button', { name, exact: true })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Inspect routing' })).toBeVisible();
  const hasTokenizer = (await summary.getByRole('row', { name: /Tokenizer/ }).textContent())!.includes('present');
  if (!hasTokenizer) {
    await expect(page.getByRole('note').first()).toContainText('has no tokenizer');
    await expect(page.getByRole('button', { name: 'Calibrate', exact: true })).toBeDisabled();
  }
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('25.00%');
  if (hasTokenizer) {
    await page.getByRole('button', { name: 'Evaluate', exact: true }).click();
    await expect(page.getByRole('table', { name: 'Perplexity' }).getByTestId('ppl-pruned')).toBeVisible();
    // Fidelity to the dense model on the same windows: KL in nats per token and top-1 agreement, also per genre.
    await expect(page.getByRole('table', { name: 'Perplexity' }).getByTestId('kl-pruned')).toHaveText(/^\d+\.\d{6}$/);
    await expect(page.getByRole('table', { name: 'Perplexity' }).getByTestId('top1-pruned')).toHaveText(/^\d+\.\d{2}%$/);
    await expect(page.getByRole('table', { name: 'Fidelity per genre' })).toBeVisible();
  }
  await shot(page, '#prune', 'default-model-prune');
  await page.screenshot({ path: 'test-results/screens/default-model.png' });
});
