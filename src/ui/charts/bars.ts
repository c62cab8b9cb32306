/**
 * Grouped bar chart: one group per category, one bar per series, a legend when there are several series, labelled
 * axes with units, and each bar's exact value on hover. Used for per-genre perplexity (dense vs pruned), router
 * entropy and margin histograms, achieved sparsity per layer and routing drift.
 */
import * as d3 from 'd3';
import { axisLabel, categoricalColor, chartFrame, exact, hoverable, shorten, type HoverHandler } from './common.ts';

export interface BarSeries {
  name: string;
  values: number[];
  color?: string;
}

export interface BarData {
  title: string;
  categories: string[];
  series: BarSeries[];
  xTitle: string;
  yTitle: string;
  format?: (value: number) => string;
  /** Fixed y range; default [0, max * 1.05]. */
  yDomain?: [number, number];
  /** Rotate category labels (long names). */
  rotateLabels?: boolean;
}

export interface BarMark {
  series: number;
  category: number;
  value: number;
  x: number;
  y: number;
  width: number;
  height: number;
  color: string;
  text: string;
}

export interface BarLayout {
  width: number;
  height: number;
  margins: { top: number; right: number; bottom: number; left: number };
  plotWidth: number;
  plotHeight: number;
  bars: BarMark[];
  y: d3.ScaleLinear<number, number>;
  x: d3.ScaleBand<string>;
  legend: { name: string; color: string }[];
}

export function layoutBars(data: BarData, width = 640, plotHeight = 200): BarLayout {
  const longest = Math.max(0, ...data.categories.map((c) => shorten(c).length));
  const bottom = data.rotateLabels ? 40 + Math.min(120, longest * 5.5) : 44;
  const margins = { top: data.series.length > 1 ? 30 : 12, right: 16, bottom, left: 64 };
  const plotWidth = width - margins.left - margins.right;
  const format = data.format ?? exact;
  const max = Math.max(0, ...data.series.flatMap((s) => s.values.filter(Number.isFinite)));
  const y = d3
    .scaleLinear()
    .domain(data.yDomain ?? [0, max > 0 ? max * 1.05 : 1])
    .range([plotHeight, 0]);
  const x = d3.scaleBand(data.categories, [0, plotWidth]).paddingInner(0.2).paddingOuter(0.1);
  const inner = d3.scaleBand(d3.range(data.series.length).map(String), [0, x.bandwidth()]).padding(0.05);
  const legend = data.series.map((s, i) => ({ name: s.name, color: s.color ?? categoricalColor(i, data.series.length) }));
  const bars: BarMark[] = [];
  data.series.forEach((s, si) =>
    s.values.forEach((value, ci) => {
      const top = y(Math.max(y.domain()[0], Math.min(y.domain()[1], Number.isFinite(value) ? value : 0)));
      const series = data.series.length > 1 ? `${s.name}, ` : '';
      bars.push({
        series: si,
        category: ci,
        value,
        x: (x(data.categories[ci]) ?? 0) + (inner(String(si)) ?? 0),
        y: top,
        width: inner.bandwidth(),
        height: plotHeight - top,
        color: legend[si].color,
        text: `${series}${data.categories[ci]}: ${format(value)} ${data.yTitle}`,
      });
    }),
  );
  return { width, height: margins.top + plotHeight + margins.bottom, margins, plotWidth, plotHeight, bars, y, x, legend };
}

export function drawBars(data: BarData, onHover?: HoverHandler, width?: number, plotHeight?: number): SVGSVGElement {
  const layout = layoutBars(data, width, plotHeight);
  const { plot, svg } = chartFrame(layout.width, layout.height, layout.margins, data.title);
  plot
    .append('g')
    .attr('class', 'grid')
    .call(
      d3
        .axisLeft(layout.y)
        .ticks(5)
        .tickSize(-layout.plotWidth)
        .tickFormat(() => ''),
    )
    .call((g) => g.selectAll('line').attr('stroke', '#e6e8ee'))
    .call((g) => g.select('.domain').remove());
  const rects = plot
    .selectAll<SVGRectElement, BarMark>('rect.bar')
    .data(layout.bars)
    .join('rect')
    .attr('class', 'bar')
    .attr('x', (d) => d.x)
    .attr('y', (d) => d.y)
    .attr('width', (d) => d.width)
    .attr('height', (d) => Math.max(0, d.height))
    .attr('fill', (d) => d.color)
    .attr('data-value', (d) => d.value);
  hoverable(rects as unknown as d3.Selection<SVGRectElement, BarMark, SVGGElement, undefined>, (d) => d.text, onHover);
  // Every category labelled when they fit, else every n-th (the hover text still names each bar).
  const every = data.rotateLabels ? 1 : Math.ceil(data.categories.length / Math.max(1, Math.floor(layout.plotWidth / 44)));
  const xAxis = plot
    .append('g')
    .attr('transform', `translate(0,${layout.plotHeight})`)
    .call(
      d3
        .axisBottom(layout.x)
        .tickValues(data.categories.filter((_, i) => i % every === 0))
        .tickFormat((c) => shorten(c))
        .tickSizeOuter(0),
    );
  if (data.rotateLabels) xAxis.selectAll('text').attr('text-anchor', 'end').attr('transform', 'rotate(-35)').attr('dx', '-0.4em').attr('dy', '0.6em');
  plot.append('g').call(
    d3
      .axisLeft(layout.y)
      .ticks(5)
      .tickFormat((v) => (data.format ?? exact)(Number(v))),
  );
  axisLabel(plot, data.xTitle, 'x', layout.plotWidth, layout.plotHeight, layout.margins.bottom - 8);
  axisLabel(plot, data.yTitle, 'y', layout.plotWidth, layout.plotHeight, 50);
  if (layout.legend.length > 1) drawSeriesLegend(plot, layout.legend, -22);
  return svg.node()!;
}

/** Coloured swatches with names in one row above the plot. */
export function drawSeriesLegend(plot: d3.Selection<SVGGElement, undefined, null, undefined>, legend: { name: string; color: string }[], y: number): void {
  let x = 0;
  const g = plot.append('g').attr('class', 'legend').attr('transform', `translate(0,${y})`);
  for (const item of legend) {
    const entry = g.append('g').attr('transform', `translate(${x},0)`);
    entry.append('rect').attr('width', 12).attr('height', 12).attr('fill', item.color);
    entry.append('text').attr('x', 16).attr('y', 10).attr('fill', '#333').text(item.name);
    x += 28 + item.name.length * 6.5;
  }
}
