/**
 * Heatmap: rows x columns of values, a sequential colour scale with its legend, labelled axes, and each cell's
 * exact value on hover. Used for layer x expert load, expert x expert co-activation, source x expert load and
 * expert x gate-weight distributions.
 */
import * as d3 from 'd3';
import { axisLabel, chartFrame, exact, hoverable, shorten, textColorOn, type HoverHandler } from './common.ts';

export interface HeatmapData {
  title: string;
  rowLabels: string[];
  columnLabels: string[];
  /** [rows][columns] */
  values: number[][];
  xTitle: string;
  yTitle: string;
  /** What a value is, for the legend and the hover text ("share of tokens"). */
  valueTitle: string;
  format?: (value: number) => string;
  /** Hover text of a cell; default "<row>, <column>: <value>". */
  describe?: (row: number, column: number, value: number) => string;
  /** Colour domain; default [0, max]. */
  domain?: [number, number];
  /** Print the value in cells when they are wide enough (default true). */
  showValues?: boolean;
}

export interface HeatmapCell {
  row: number;
  column: number;
  value: number;
  x: number;
  y: number;
  size: { width: number; height: number };
  color: string;
  label: string;
  text: string;
}

export interface HeatmapLayout {
  width: number;
  height: number;
  margins: { top: number; right: number; bottom: number; left: number };
  plotWidth: number;
  plotHeight: number;
  cells: HeatmapCell[];
  domain: [number, number];
  color: (value: number) => string;
}

const CELL_MAX = 44;
const CELL_MIN = 10;

export function layoutHeatmap(data: HeatmapData, maxWidth = 720): HeatmapLayout {
  const rows = data.rowLabels.length;
  const columns = data.columnLabels.length;
  const longestRow = Math.max(0, ...data.rowLabels.map((l) => shorten(l).length));
  const margins = { top: 12, right: 96, bottom: 44, left: 28 + longestRow * 6 };
  const cell = Math.max(CELL_MIN, Math.min(CELL_MAX, Math.floor((maxWidth - margins.left - margins.right) / Math.max(1, columns))));
  const cellHeight = Math.max(CELL_MIN, Math.min(CELL_MAX, cell, Math.floor(480 / Math.max(1, rows))));
  const plotWidth = cell * columns;
  const plotHeight = cellHeight * rows;
  const all = data.values.flat().filter(Number.isFinite);
  const domain: [number, number] = data.domain ?? [0, Math.max(1e-12, ...all)];
  const scale = d3.scaleSequential(d3.interpolateBlues).domain(domain);
  const color = (v: number) => (Number.isFinite(v) ? scale(Math.max(domain[0], Math.min(domain[1], v))) : '#eee');
  const format = data.format ?? exact;
  const describe = data.describe ?? ((r, c, v) => `${data.rowLabels[r]}, ${data.columnLabels[c]}: ${format(v)} ${data.valueTitle}`);
  const cells: HeatmapCell[] = [];
  data.values.forEach((row, r) =>
    row.forEach((value, c) => {
      const fill = color(value);
      cells.push({
        row: r,
        column: c,
        value,
        x: c * cell,
        y: r * cellHeight,
        size: { width: cell, height: cellHeight },
        color: fill,
        label: format(value),
        text: describe(r, c, value),
      });
    }),
  );
  return {
    width: margins.left + plotWidth + margins.right,
    height: margins.top + plotHeight + margins.bottom,
    margins,
    plotWidth,
    plotHeight,
    cells,
    domain,
    color,
  };
}

export function drawHeatmap(data: HeatmapData, onHover?: HoverHandler, maxWidth?: number): SVGSVGElement {
  const layout = layoutHeatmap(data, maxWidth);
  const { plot, svg } = chartFrame(layout.width, layout.height, layout.margins, data.title);
  const cells = plot
    .selectAll<SVGGElement, HeatmapCell>('g.cell')
    .data(layout.cells)
    .join('g')
    .attr('class', 'cell')
    .attr('transform', (d) => `translate(${d.x},${d.y})`);
  const rects = cells
    .append('rect')
    .attr('width', (d) => d.size.width - 1)
    .attr('height', (d) => d.size.height - 1)
    .attr('fill', (d) => d.color)
    .attr('data-value', (d) => d.value);
  hoverable(rects as unknown as d3.Selection<SVGRectElement, HeatmapCell, SVGGElement, undefined>, (d) => d.text, onHover);
  const cellWidth = layout.cells[0]?.size.width ?? 0;
  const cellHeight = layout.cells[0]?.size.height ?? 0;
  if (data.showValues !== false && cellWidth >= 34 && cellHeight >= 16) {
    cells
      .append('text')
      .attr('x', (d) => d.size.width / 2)
      .attr('y', (d) => d.size.height / 2 + 4)
      .attr('text-anchor', 'middle')
      .attr('font-size', 10)
      .attr('pointer-events', 'none')
      .attr('fill', (d) => textColorOn(d.color))
      .text((d) => d.label);
  }
  const x = d3.scaleBand(data.columnLabels, [0, layout.plotWidth]);
  const y = d3.scaleBand(data.rowLabels, [0, layout.plotHeight]);
  const everyX = Math.ceil(data.columnLabels.length / Math.max(1, Math.floor(layout.plotWidth / 28)));
  plot
    .append('g')
    .attr('transform', `translate(0,${layout.plotHeight})`)
    .call(
      d3
        .axisBottom(x)
        .tickValues(data.columnLabels.filter((_, i) => i % everyX === 0))
        .tickSizeOuter(0),
    );
  const everyY = Math.ceil(data.rowLabels.length / Math.max(1, Math.floor(layout.plotHeight / 12)));
  plot.append('g').call(
    d3
      .axisLeft(y)
      .tickValues(data.rowLabels.filter((_, i) => i % everyY === 0))
      .tickFormat((l) => shorten(l))
      .tickSizeOuter(0),
  );
  axisLabel(plot, data.xTitle, 'x', layout.plotWidth, layout.plotHeight, 34);
  axisLabel(plot, data.yTitle, 'y', layout.plotWidth, layout.plotHeight, layout.margins.left - 12);
  drawLegend(plot, layout, data);
  return svg.node()!;
}

/** A vertical colour bar right of the plot, with its domain's ends and the value's name. */
function drawLegend(plot: d3.Selection<SVGGElement, undefined, null, undefined>, layout: HeatmapLayout, data: HeatmapData): void {
  const format = data.format ?? exact;
  const height = Math.max(60, Math.min(layout.plotHeight, 160));
  const legend = plot.append('g').attr('transform', `translate(${layout.plotWidth + 16},0)`);
  const id = `grad-${Math.random().toString(36).slice(2)}`;
  const gradient = legend.append('defs').append('linearGradient').attr('id', id).attr('x1', 0).attr('y1', 1).attr('x2', 0).attr('y2', 0);
  for (let i = 0; i <= 10; i++) {
    const v = layout.domain[0] + ((layout.domain[1] - layout.domain[0]) * i) / 10;
    gradient
      .append('stop')
      .attr('offset', `${i * 10}%`)
      .attr('stop-color', layout.color(v));
  }
  legend.append('rect').attr('width', 12).attr('height', height).attr('fill', `url(#${id})`).attr('stroke', '#999');
  legend.append('text').attr('x', 16).attr('y', 9).text(format(layout.domain[1]));
  legend.append('text').attr('x', 16).attr('y', height).text(format(layout.domain[0]));
  legend
    .append('text')
    .attr('transform', `translate(${60},${height / 2}) rotate(90)`)
    .attr('text-anchor', 'middle')
    .attr('fill', '#333')
    .text(data.valueTitle);
}
