/**
 * The page on a DeepSeek-V3 checkpoint (the hf-tiny deepseek_v3 fixture: multi-head latent attention, sigmoid
 * routing with e_score_correction_bias in 4 groups, routed_scaling_factor 2.5, a dense first layer; random
 * weights) with lab-tiny's 512-token tokenizer, served by routes as an extra embedded model: the router inspector
 * shows each chosen expert's sigmoid score apart from its weight g and how many tokens the correction bias moved,
 * and MoE-Pruner prunes it to 50%.
 */
import { expect, test } from './fixtures.ts';
import { inspectHfTinyModel, shot } from './lab-model.ts';

const MODEL = { id: 'dsv3-tiny', name: 'Tiny DeepSeek-V3 (test model)', fixture: 'deepseek_v3' };
const SETTINGS = 'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown.fiction&ctx=64&evaltokens=256';

test('inspect a DeepSeek-V3 router (scores, g and the bias-corrected choice apart), then prune it', async ({ page, context }) => {
  test.setTimeout(240_000);
  const routing = await inspectHfTinyModel(page, context, MODEL, SETTINGS);
  await expect(routing.getByTestId('bias-choice')).toContainText(/the bias changed the chosen experts of \d+ of \d+ tokens in layer 1/);
  await routing.locator('.token').nth(3).hover();
  await expect(routing.getByRole('figure', { name: /Tokens coloured by expert/ }).getByTestId('hover-readout')).toContainText(
    /token 3 ".*": expert \d+ \(score 0\.\d{4}, g = \d\.\d{4}\).*correction bias/,
  );
  await shot(page, '#inspect', 'panel-inspect-deepseek');

  await page.getByRole('button', { name: 'Prune', exact: true }).click();
  await expect(page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity')).toHaveText('50.00%');
});
