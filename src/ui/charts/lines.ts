/**
 * Line chart with points: one line per series over a numeric x axis, an optional dashed reference level (the
 * dense model's perplexity), legend, labelled axes, exact values on hover. Used for the sweep: perplexity against
 * sparsity, one line per pruning method, drawn again as each point arrives.
 */
import * as d3 from 'd3';
import { drawSeriesLegend } from './bars.ts';
import { axisLabel, categoricalColor, chartFrame, exact, hoverable, type HoverHandler } from './common.ts';

export interface LinePoint {
  x: number;
  y: number;
}

export interface LineSeries {
  name: string;
  points: LinePoint[];
}

export interface LineData {
  title: string;
  series: LineSeries[];
  xTitle: string;
  yTitle: string;
  formatX?: (value: number) => string;
  formatY?: (value: number) => string;
  xDomain?: [number, number];
  /** A horizontal reference line, e.g. the dense perplexity. */
  reference?: { y: number; label: string };
  /** Log scale on y (perplexity spans orders of magnitude at high sparsity). */
  logY?: boolean;
}

export interface LineMark {
  series: number;
  point: LinePoint;
  cx: number;
  cy: number;
  color: string;
  text: string;
}

export interface LineLayout {
  width: number;
  height: number;
  margins: { top: number; right: number; bottom: number; left: number };
  plotWidth: number;
  plotHeight: number;
  x: d3.ScaleLinear<number, number>;
  y: d3.ScaleContinuousNumeric<number, number>;
  paths: { series: number; color: string; d: string }[];
  marks: LineMark[];
  legend: { name: string; color: string }[];
}

export function layoutLines(data: LineData, width = 640, plotHeight = 240): LineLayout {
  const margins = { top: 30, right: 24, bottom: 44, left: 68 };
  const plotWidth = width - margins.left - margins.right;
  const points = data.series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y).filter((v) => Number.isFinite(v) && (!data.logY || v > 0));
  if (data.reference && Number.isFinite(data.reference.y)) ys.push(data.reference.y);
  const x = d3
    .scaleLinear()
    .domain(data.xDomain ?? [Math.min(0, ...xs), Math.max(1, ...xs)])
    .range([0, plotWidth]);
  const yMin = ys.length ? Math.min(...ys) : 1;
  const yMax = ys.length ? Math.max(...ys) : 2;
  // No nice() on the log scale: it would widen a narrow range to whole decades and flatten every line.
  const y = data.logY
    ? d3
        .scaleLog()
        .domain([yMin / 1.1, yMax * 1.1])
        .range([plotHeight, 0])
    : d3
        .scaleLinear()
        .domain([Math.min(0, yMin), yMax * 1.05])
        .range([plotHeight, 0])
        .nice();
  const formatX = data.formatX ?? exact;
  const formatY = data.formatY ?? exact;
  const legend = data.series.map((s, i) => ({ name: s.name, color: categoricalColor(i, data.series.length) }));
  const line = d3
    .line<LinePoint>()
    .defined((p) => Number.isFinite(p.y) && (!data.logY || p.y > 0))
    .x((p) => x(p.x))
    .y((p) => y(p.y));
  const paths = data.series.map((s, i) => ({ series: i, color: legend[i].color, d: line([...s.points].sort((a, b) => a.x - b.x)) ?? '' }));
  const marks = data.series.flatMap((s, i) =>
    s.points
      .filter((p) => Number.isFinite(p.y) && (!data.logY || p.y > 0))
      .map((p) => ({
        series: i,
        point: p,
        cx: x(p.x),
        cy: y(p.y),
        color: legend[i].color,
        text: `${s.name}, ${data.xTitle} ${formatX(p.x)}: ${formatY(p.y)} ${data.yTitle}`,
      })),
  );
  return { width, height: margins.top + plotHeight + margins.bottom, margins, plotWidth, plotHeight, x, y, paths, marks, legend };
}

export function drawLines(data: LineData, onHover?: HoverHandler, width?: number, plotHeight?: number): SVGSVGElement {
  const layout = layoutLines(data, width, plotHeight);
  const { plot, svg } = chartFrame(layout.width, layout.height, layout.margins, data.title);
  const formatX = data.formatX ?? exact;
  const formatY = data.formatY ?? exact;
  plot
    .append('g')
    .call(
      d3
        .axisLeft(layout.y)
        .ticks(5)
        .tickSize(-layout.plotWidth)
        .tickFormat(() => ''),
    )
    .call((g) => g.selectAll('line').attr('stroke', '#e6e8ee'))
    .call((g) => g.select('.domain').remove());
  if (data.reference && Number.isFinite(data.reference.y)) {
    const ry = layout.y(data.reference.y);
    plot.append('line').attr('x1', 0).attr('x2', layout.plotWidth).attr('y1', ry).attr('y2', ry).attr('stroke', '#555').attr('stroke-dasharray', '4 3');
    plot
      .append('text')
      .attr('x', 4)
      .attr('y', ry - 4)
      .attr('fill', '#333')
      .text(`${data.reference.label}: ${formatY(data.reference.y)}`);
  }
  plot
    .selectAll('path.series')
    .data(layout.paths)
    .join('path')
    .attr('class', 'series')
    .attr('d', (d) => d.d)
    .attr('fill', 'none')
    .attr('stroke', (d) => d.color)
    .attr('stroke-width', 2);
  const dots = plot
    .selectAll<SVGCircleElement, LineMark>('circle.point')
    .data(layout.marks)
    .join('circle')
    .attr('class', 'point')
    .attr('cx', (d) => d.cx)
    .attr('cy', (d) => d.cy)
    .attr('r', 4.5)
    .attr('fill', (d) => d.color)
    .attr('data-value', (d) => d.point.y);
  hoverable(dots as unknown as d3.Selection<SVGCircleElement, LineMark, SVGGElement, undefined>, (d) => d.text, onHover);
  plot
    .append('g')
    .attr('transform', `translate(0,${layout.plotHeight})`)
    .call(
      d3
        .axisBottom(layout.x)
        .ticks(8)
        .tickFormat((v) => formatX(Number(v))),
    );
  plot.append('g').call(
    d3
      .axisLeft(layout.y)
      .ticks(5, data.logY ? '~g' : undefined)
      .tickFormat((v) => formatY(Number(v))),
  );
  axisLabel(plot, data.xTitle, 'x', layout.plotWidth, layout.plotHeight, 36);
  axisLabel(plot, data.yTitle, 'y', layout.plotWidth, layout.plotHeight, 54);
  drawSeriesLegend(plot, layout.legend, -22);
  return svg.node()!;
}
