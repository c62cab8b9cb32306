/**
 * A link made on the page replays on the command line: on the default model with a small calibration and
 * evaluation, "Reproduce this experiment" in the page (WebGPU on SwiftShader) prints the dense and pruned
 * perplexities; `moe-lab run --experiment <the page's URL> --json` (Dawn, through scripts/with-vulkan.sh: lavapipe
 * where unpacked) prints the same numbers to every digit the page shows (perplexity to 4 decimals, mean NLL to 6,
 * tokens scored), the same achieved sparsity, and the model hash the link carries. The link names a benchmark
 * (bench=blimp.morphology&benchlimit=1: 18 BLiMP pairs), so both also score it: the same accuracies, dense and pruned.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_MODEL, expect, LOADED_DEFAULT, test } from './fixtures.ts';

const ROOT = join(import.meta.dirname, '../..');
/** Small enough for SwiftShader: 8 x 32 calibration tokens of one genre, 520 evaluation tokens over the 13 genres, 18 BLiMP pairs. */
const SETTINGS =
  'text=brown.reviews&samples=8&seqlen=32&seed=1&mode=dense&method=moe-pruner&sparsity=0.5&eval=brown&ctx=64&evaltokens=520&bench=blimp.morphology&benchlimit=1';

test('moe-lab run --experiment prints the perplexities the page shows for its share link', async ({ page }) => {
  test.setTimeout(480_000);
  await page.goto(`/#v=1&model=embedded:${DEFAULT_MODEL.id}&${SETTINGS}`);
  await expect(page.getByRole('heading', { name: LOADED_DEFAULT })).toBeVisible();
  await page.getByRole('button', { name: 'Reproduce this experiment' }).click();
  const table = page.getByRole('table', { name: 'Perplexity' });
  // Pruning and two evaluations on SwiftShader: minutes on a loaded machine.
  await expect(table.getByTestId('ppl-pruned')).toBeVisible({ timeout: 180_000 });
  // Every number the table prints per model: perplexity (4 decimals), mean NLL (6 decimals), tokens scored, and the
  // pruned model's fidelity to the dense one: KL in nats per token (6 decimals), top-1 agreement (2 decimals).
  const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent)));
  const sparsity = await page.getByRole('region', { name: 'Pruning result' }).getByTestId('achieved-sparsity').textContent();
  const benchmarkLine = page.getByTestId('reproduced-benchmark');
  await expect(benchmarkLine).toBeVisible({ timeout: 180_000 });
  // The page writes the loaded model's hash into the link.
  await expect(page).toHaveURL(new RegExp(`model=embedded:${DEFAULT_MODEL.id}&hash=[0-9a-f]{16}&`));
  const link = page.url();

  const { stdout } = await promisify(execFile)(join(ROOT, 'scripts/with-vulkan.sh'), ['node', 'bin/moe-lab.mjs', 'run', '--experiment', link, '--json'], {
    cwd: ROOT,
    timeout: 240_000,
  });
  type Numbers = { ppl: number; nll: number; tokens: number };
  const replay = JSON.parse(stdout) as {
    dense: Numbers;
    pruned: Numbers;
    sparsity: number;
    model: { hash: string };
    fidelity: { overall: { kl: number; top1Agreement: number } };
    benchmarks: { dense: { accuracy: number }; pruned: { accuracy: number } };
  };
  expect(link).toContain(`hash=${replay.model.hash}&`);
  const printed = (variant: 'dense' | 'pruned') => {
    const n = replay[variant];
    const { kl, top1Agreement } = replay.fidelity.overall;
    const fidelity = variant === 'pruned' ? [kl.toFixed(6), `${(100 * top1Agreement).toFixed(2)}%`] : ['0', '100%'];
    return [variant, n.ppl.toFixed(4), n.nll.toFixed(6), n.tokens.toLocaleString('en-US'), ...fidelity];
  };
  expect(rows).toEqual([printed('dense'), printed('pruned')]);
  expect(`${(100 * replay.sparsity).toFixed(2)}%`).toBe(sparsity);
  const accuracy = (variant: 'dense' | 'pruned') => `${(100 * replay.benchmarks[variant].accuracy).toFixed(2)}%`;
  await expect(benchmarkLine).toHaveText(
    `Perplexity dense ${replay.dense.ppl.toFixed(4)}, pruned ${replay.pruned.ppl.toFixed(4)}; benchmark blimp.morphology accuracy dense ${accuracy('dense')}, pruned ${accuracy('pruned')}`,
  );
});
