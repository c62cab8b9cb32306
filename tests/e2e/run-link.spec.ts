/**
 * A link made on the page replays on the command line: on the default model with a small calibration and
 * evaluation, "Reproduce this experiment" in the page (WebGPU on SwiftShader) prints the dense and pruned
 * perplexities; `moe-lab run --experiment <the page's URL> --json` (Dawn, through scripts/with-vulkan.sh: lavapipe
 * where unpacked) prints the numbers the page shows (perplexity, mean NLL, the pruned model's KL and top-1 agreement)
 * to within 1e-4 relative, the same tokens scored, the same achieved sparsity, and the model hash the link carries.
 * The link names a benchmark (bench=blimp.morphology&benchlimit=1: 18 BLiMP pairs), so both also score it: the same
 * accuracies, dense and pruned. Why not every digit: the two drivers run the same kernels in the same order, but their
 * exp and inverse square root may differ in the last bit, and a weight whose score ties its row's threshold to within
 * that bit can fall on either side (the default model's down projections have rows of 12 weights, 128 experts a
 * layer, so a few such rows exist); on one driver the page's path and the CLI's agree bit for bit.
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
  const rows = await table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((cell) => cell.textContent ?? '')));
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
  // A printed number against the CLI's: within 1e-4 relative, plus half a unit of the last printed digit.
  const close = (shown: string, value: number, what: string) => {
    const decimals = shown.split('.')[1]?.length ?? 0;
    expect(Math.abs(Number(shown) - value), `${what}: page ${shown}, CLI ${value}`).toBeLessThanOrEqual(1e-4 * Math.abs(value) + 0.5 * 10 ** -decimals);
  };
  expect(rows.map((r) => r[0])).toEqual(['dense', 'pruned']);
  for (const [variant, ppl, nll, tokens, kl, top1] of rows) {
    const n = replay[variant as 'dense' | 'pruned'];
    close(ppl, n.ppl, `${variant} perplexity`);
    close(nll, n.nll, `${variant} NLL`);
    expect(tokens).toBe(n.tokens.toLocaleString('en-US'));
    const fidelity = variant === 'pruned' ? replay.fidelity.overall : { kl: 0, top1Agreement: 1 };
    close(kl, fidelity.kl, `${variant} KL`);
    // One of the 507 tokens changing its top-1 moves the agreement by 0.2 points.
    expect(Math.abs(Number(top1.replace('%', '')) - 100 * fidelity.top1Agreement), `${variant} top-1 agreement`).toBeLessThanOrEqual(0.2);
  }
  expect(`${(100 * replay.sparsity).toFixed(2)}%`).toBe(sparsity);
  const accuracy = (variant: 'dense' | 'pruned') => `${(100 * replay.benchmarks[variant].accuracy).toFixed(2)}%`;
  const line = (await benchmarkLine.textContent()) ?? '';
  const shown = /^Perplexity dense ([\d.]+), pruned ([\d.]+); benchmark blimp\.morphology accuracy dense ([\d.]+%), pruned ([\d.]+%)$/.exec(line);
  expect(shown, line).not.toBeNull();
  close(shown![1], replay.dense.ppl, 'reproduced dense perplexity');
  close(shown![2], replay.pruned.ppl, 'reproduced pruned perplexity');
  expect([shown![3], shown![4]]).toEqual([accuracy('dense'), accuracy('pruned')]);
});
