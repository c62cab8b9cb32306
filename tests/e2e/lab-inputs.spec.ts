/** Bad inputs: a corrupt safetensors dropped on the page, and share links that are malformed or name what is not here. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, LOADED_DEFAULT, test } from './fixtures.ts';
import { expectLoaded, LAB_MODEL, serveLabModel } from './lab-model.ts';

const MIXTRAL = join(import.meta.dirname, '../fixtures/hf-tiny/mixtral');

test('a corrupt safetensors dropped on the page gives one line naming the file; the loaded model stays', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('table', { name: 'Model summary' })).toBeVisible();
  const config = readFileSync(join(MIXTRAL, 'config.json')).toString('base64');
  // The header claims more bytes than the file has.
  const weights = Buffer.from(readFileSync(join(MIXTRAL, 'model.safetensors')).subarray(0, 3000));
  weights.writeBigUInt64LE(10_000_000n, 0);
  const data = await page.evaluateHandle(
    ([config, weights]) => {
      const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes(config)], 'config.json'));
      transfer.items.add(new File([bytes(weights)], 'model.safetensors'));
      return transfer;
    },
    [config, weights.toString('base64')],
  );
  const zone = page.getByRole('region', { name: 'Drop a model folder or files here' });
  await zone.dispatchEvent('dragover', { dataTransfer: data });
  await zone.dispatchEvent('drop', { dataTransfer: data });
  const alert = page.getByRole('alert');
  await expect(alert).toContainText(/^model\.safetensors: /);
  expect(((await alert.textContent()) ?? '').split('\n')).toHaveLength(1);
  await expect(page.getByRole('heading', { name: LOADED_DEFAULT })).toBeVisible();
  await page.screenshot({ path: 'test-results/screens/corrupt-drop.png' });
});

test('a malformed link is noted and never executed; a pasted text is asked for', async ({ page, context }) => {
  await serveLabModel(context);
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(
    `/#v=1&model=embedded:${LAB_MODEL.id}&method=drop%20table&sparsity=7&samples=-3&text=pasted:00112233445566778899&eval=pasted:0123456789abcdef` +
      '&hide=everything&tour=maybe&panel=prune&javascript:alert(1)=1',
  );
  await expectLoaded(page, LAB_MODEL.name);
  const notes = page.getByRole('region', { name: 'Notes' });
  await expect(notes).toContainText('method="drop table" is not one of');
  await expect(notes).toContainText('sparsity="7" is outside 0-0.95; using 0.95');
  await expect(notes).toContainText('samples="-3" is outside 1-4096; using 1');
  await expect(notes).toContainText('hide: ignored "everything"');
  await expect(notes).toContainText('tour="maybe" is not one of 0, 1');
  await expect(notes).toContainText('Ignored the unknown parameter "javascript:alert(1)"');
  await expect(notes).toContainText('evaluation text is a pasted text known only by its hash 0123456789abcdef');
  // Nothing ran: no pruning, no calibration, no text fetched for them.
  await expect(page.getByRole('region', { name: 'Pruning result' })).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Calibration result' })).toHaveCount(0);
  expect(requests.some((u) => u.includes('heldout.txt'))).toBe(false);
  await expect(page.getByText('This setting names a pasted text by its hash only').first()).toBeVisible();
  // The address bar now holds the clean link.
  await expect(page).toHaveURL(/method=moe-pruner&sparsity=0\.95/);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: 'test-results/screens/malformed-link.png' });
  // Pasting a text makes the evaluation possible.
  const evaluate = page.locator('#evaluate');
  await evaluate.getByLabel('Evaluation text').selectOption({ label: 'Paste or upload a text…' });
  await evaluate.getByLabel('Text to use').fill('The quick brown fox jumps over the lazy dog. '.repeat(20));
  await evaluate.getByRole('button', { name: 'Use the pasted text' }).click();
  await expect(notes).toContainText("not to the link's 0123456789abcdef");
  await evaluate.getByLabel('Window (tokens)').fill('32');
  await evaluate.getByLabel('Window (tokens)').press('Enter');
  await evaluate.getByRole('button', { name: 'Evaluate', exact: true }).click();
  await expect(page.getByRole('table', { name: 'Perplexity' }).getByTestId('ppl-dense')).toHaveText(/^\d+\.\d{4}$/);
  await expect(page).toHaveURL(/eval=pasted:[0-9a-f]{16}&/);
});
