/**
 * The Recover step on the page (lab-tiny, served by routes): refused before pruning; after pruning 50% with
 * MoE-Pruner, Recover a few steps — the loss curves draw, Pause and Resume continue the run, and once finished the
 * dense, pruned and distilled perplexities stand side by side with the share of the gap recovered. The training
 * kernels need subgroups of at least 8 invocations: on an adapter without them (Chromium's SwiftShader has 4) the
 * panel must say so in one line instead; tests/gpu/distill-recover.test.ts runs the same engine calls in Node.
 */
import { expect, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel, shot } from './lab-model.ts';

const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown.fiction&ctx=64&evaltokens=256';

test('prune, then recover with live curves, pause / resume, and the three perplexities', async ({ page, context }) => {
  test.setTimeout(300_000);
  await serveLabModel(context);
  await page.goto(`/#v=1&model=embedded:${LAB_MODEL.id}&${SETTINGS}`);
  await expectLoaded(page, LAB_MODEL.name);
  const recover = page.locator('#recover');
  await expect(recover.getByRole('button', { name: 'Recover', exact: true })).toBeDisabled();
  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');

  await recover.getByLabel('Windows', { exact: true }).fill('8');
  await recover.getByLabel('Window (tokens)').fill('32');
  await recover.getByLabel('Steps').fill('10');
  await recover.getByLabel('Windows per step').fill('2');
  await recover.getByLabel('Windows per step').press('Enter');
  await recover.getByRole('button', { name: 'Recover', exact: true }).click();
  const curves = recover.getByRole('figure', { name: 'Distillation loss curves' });
  const refusal = recover.getByRole('alert');
  await expect(curves.or(refusal)).toBeVisible();
  if (await refusal.isVisible()) {
    await expect(refusal).toHaveText(
      /^Distillation runs on the training kernels, which need the WebGPU 'subgroups' feature with subgroups of at least 8 invocations; this GPU adapter has (no subgroups|subgroups of [1-7])\.$/,
    );
    await shot(page, '#recover', 'panel-recover');
    return;
  }
  await recover.getByRole('button', { name: 'Pause' }).click();
  await expect(recover.getByRole('button', { name: 'Resume' })).toBeEnabled();
  await expect(recover.getByRole('region', { name: 'Recover result' })).toContainText(/Step \d+ of 10/);
  await recover.getByRole('button', { name: 'Resume' }).click();
  const table = recover.getByRole('table', { name: 'Perplexity before and after recovery' });
  await expect(table.getByTestId('recover-ppl-distilled')).toHaveText(/^\d+\.\d{4}$/, { timeout: 240_000 });
  await expect(recover.getByRole('region', { name: 'Recover result' })).toContainText('Step 10 of 10');
  await expect(recover.getByTestId('recover-gap')).toBeVisible();
  await shot(page, '#recover', 'panel-recover');
});
