/** The pure layouts behind the d3 charts: positions, scales and the exact words each mark reports on hover. */
import { describe, expect, it } from 'vitest';
import { layoutBars } from '../../src/ui/charts/bars.ts';
import { exact, percent, shorten, textColorOn } from '../../src/ui/charts/common.ts';
import { layoutHeatmap } from '../../src/ui/charts/heatmap.ts';
import { layoutLines } from '../../src/ui/charts/lines.ts';

describe('heatmap layout', () => {
  const data = {
    title: 'load',
    rowLabels: ['layer 0', 'layer 1'],
    columnLabels: ['0', '1', '2'],
    values: [
      [0.5, 0.25, 0.25],
      [0, 1, 0],
    ],
    xTitle: 'expert',
    yTitle: 'layer',
    valueTitle: 'of tokens',
  };

  it('places one cell per value in a grid and reports its exact value', () => {
    const layout = layoutHeatmap(data);
    expect(layout.cells).toHaveLength(6);
    const [a, b] = [layout.cells[0], layout.cells[4]];
    expect(b.x - a.x).toBe(a.size.width);
    expect(b.y - a.y).toBe(a.size.height);
    expect(b.text).toBe('layer 1, 1: 1 of tokens');
    expect(layout.cells[1].text).toBe('layer 0, 1: 0.25 of tokens');
    expect(layout.domain).toEqual([0, 1]);
    // Darker for larger values (interpolateBlues): the 1 cell differs from the 0 cell.
    expect(layout.cells[4].color).not.toBe(layout.cells[3].color);
    expect(layout.width).toBe(layout.margins.left + layout.plotWidth + layout.margins.right);
  });

  it('keeps cells within bounds for many columns and leaves room for long row labels', () => {
    const wide = layoutHeatmap({ ...data, columnLabels: Array.from({ length: 64 }, (_, i) => `${i}`), values: [new Array(64).fill(1), new Array(64).fill(2)] });
    expect(wide.cells[0].size.width).toBeGreaterThanOrEqual(10);
    const long = layoutHeatmap({ ...data, rowLabels: ['Miscellaneous: government & house organs', 'x'] });
    expect(long.margins.left).toBeGreaterThan(layoutHeatmap(data).margins.left);
    expect(shorten('Miscellaneous: government & house organs')).toBe('Miscellaneous: government…');
  });

  it('uses a custom description and domain, and greys out non-finite values', () => {
    const layout = layoutHeatmap({
      ...data,
      values: [
        [NaN, 2, 3],
        [4, 5, 6],
      ],
      domain: [0, 10],
      describe: (r, c, v) => `${r}/${c}=${v}`,
    });
    expect(layout.cells[5].text).toBe('1/2=6');
    expect(layout.cells[0].color).toBe('#eee');
    expect(layout.domain).toEqual([0, 10]);
  });
});

describe('bar layout', () => {
  it('groups bars per category with heights on a shared scale and a legend for several series', () => {
    const layout = layoutBars({
      title: 'ppl',
      categories: ['news', 'fiction'],
      series: [
        { name: 'dense', values: [10, 20] },
        { name: 'pruned', values: [15, 40] },
      ],
      xTitle: 'genre',
      yTitle: 'perplexity',
    });
    expect(layout.bars).toHaveLength(4);
    const [denseNews, denseFiction, prunedNews, prunedFiction] = layout.bars;
    expect(denseFiction.height / denseNews.height).toBeCloseTo(2, 6);
    expect(prunedFiction.height / denseFiction.height).toBeCloseTo(2, 6);
    // Same category: side by side; the pruned bar right of the dense one.
    expect(prunedNews.x).toBeGreaterThan(denseNews.x);
    expect(prunedNews.x).toBeLessThan(denseFiction.x);
    expect(prunedFiction.text).toBe('pruned, fiction: 40 perplexity');
    expect(layout.legend.map((l) => l.name)).toEqual(['dense', 'pruned']);
    expect(layout.y.domain()[1]).toBeCloseTo(42, 6);
  });

  it('honours a fixed domain and formats values', () => {
    const layout = layoutBars({
      title: 's',
      categories: ['layer 0'],
      series: [{ name: 'x', values: [0.5] }],
      xTitle: 'l',
      yTitle: 'pruned',
      yDomain: [0, 1],
      format: (v) => percent(v),
    });
    expect(layout.bars[0].height).toBeCloseTo(layout.plotHeight / 2, 6);
    expect(layout.bars[0].text).toBe('layer 0: 50.0% pruned');
  });
});

describe('line layout', () => {
  const data = {
    title: 'sweep',
    series: [
      {
        name: 'wanda',
        points: [
          { x: 0.75, y: 400 },
          { x: 0.25, y: 12 },
          { x: 0.5, y: 20 },
        ],
      },
      { name: 'moe-pruner', points: [{ x: 0.5, y: 18 }] },
    ],
    xTitle: 'sparsity',
    yTitle: 'perplexity',
    reference: { y: 10, label: 'dense' },
  };

  it('draws each series in x order, includes the reference level, and reports points exactly', () => {
    const layout = layoutLines(data);
    expect(layout.paths).toHaveLength(2);
    const xs = [...layout.paths[0].d.matchAll(/[ML]([\d.]+),/g)].map((m) => Number(m[1]));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    expect(layout.y.domain()[0]).toBeLessThanOrEqual(10);
    expect(layout.marks.find((m) => m.series === 1)!.text).toBe('moe-pruner, sparsity 0.5: 18 perplexity');
  });

  it('on a log scale leaves out values it cannot place', () => {
    const layout = layoutLines({
      ...data,
      logY: true,
      series: [
        {
          name: 'x',
          points: [
            { x: 0.1, y: 0 },
            { x: 0.2, y: 5 },
            { x: 0.3, y: NaN },
          ],
        },
      ],
    });
    expect(layout.marks).toHaveLength(1);
    expect(layout.y(5)).toBeGreaterThan(0);
  });
});

describe('chart helpers', () => {
  it('formats exact values and picks readable text colours', () => {
    expect(exact(1234567)).toBe('1,234,567');
    expect(exact(0.123456)).toBe('0.1235');
    expect(exact(NaN)).toBe('NaN');
    expect(textColorOn('#ffffff')).toBe('#111');
    expect(textColorOn('#08306b')).toBe('#fff');
  });
});
