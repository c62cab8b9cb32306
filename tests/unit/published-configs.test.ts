/**
 * `moe-lab info --json` on published configs with no weights (tests/fixtures/configs: config.json and a shard index
 * whose shards are absent): the parameter counts equal those of the model transformers 5.18 builds from the same
 * config (summed on the meta device, correction-bias buffers included: the numbers below), and come out at the
 * published sizes. Published "activated" figures leave out the input embedding table (a token reads one row) to
 * different degrees, so those are checked loosely; the totals to 1%.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

const dir = (name: string) => fileURLToPath(new URL(`../fixtures/configs/${name}`, import.meta.url));

/** transformers' counts: total, routed experts, shared experts, active (all but routed + K/E of them). */
const CASES = [
  {
    name: 'deepseek-v2-lite',
    architecture: 'deepseek_v2',
    total: 15706484224,
    expert: 14394851328,
    shared: 449839104,
    active: 2661150208,
    published: [15.7e9, 2.4e9],
  },
  {
    name: 'moonlight-16b-a3b',
    architecture: 'deepseek_v3',
    total: 15960110208,
    expert: 14394851328,
    shared: 449839104,
    active: 2914776192,
    published: [16e9, 3e9],
  },
  { name: 'glm-4.5-air', architecture: 'glm4_moe', total: 106852251264, expert: 99656663040, shared: 778567680, active: 13424129664, published: [106e9, 12e9] },
  // Sinks, router and expert biases counted; the model card's 20.9B total and 3.6B active (embedding left out).
  { name: 'gpt-oss-20b', architecture: 'gpt_oss', total: 20914757184, expert: 19116933120, shared: 0, active: 4187440704, published: [21e9, 3.6e9] },
] as const;

describe('moe-lab info on published configs (no weights)', () => {
  it.each(CASES)('$name: total / routed / shared / active parameters', async (c) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main(['info', '--model', dir(c.name), '--json'], { out: (t) => out.push(t), err: (t) => err.push(t) });
    expect([code, err.join('\n')]).toEqual([0, '']);
    const report = JSON.parse(out.join('\n'));
    expect(report).toMatchObject({ architecture: c.architecture, weights: false, files: [] });
    const p = report.parameters;
    expect([p.total, p.expert, p.shared, p.active]).toEqual([c.total, c.expert, c.shared, c.active]);
    const [total, active] = c.published;
    expect(Math.abs(p.total - total) / total).toBeLessThan(0.01);
    // Without the input embedding: 2.45B, 2.58B, 12.8B, 3.61B against the published 2.4B, 3B, 12B, 3.6B.
    expect(Math.abs(p.active - p.embedding - active) / active).toBeLessThan(0.15);
  });
});
