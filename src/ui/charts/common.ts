/**
 * What every chart shares: the frame (an SVG with a viewBox, a title for screen readers), number formats, the
 * colours, and the hover contract. Charts are d3 functions, data in and SVG out; each splits into a pure layout
 * (unit-tested: scales, positions, labels, the exact value each mark reports) and the drawing of that layout.
 */
import * as d3 from 'd3';

export interface Margins {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/** Called with a mark's exact value in words while the pointer is on it, and null when it leaves. */
export type HoverHandler = (text: string | null) => void;

export interface ChartFrame {
  svg: d3.Selection<SVGSVGElement, undefined, null, undefined>;
  /** The plotting area, translated by the margins. */
  plot: d3.Selection<SVGGElement, undefined, null, undefined>;
}

/** A detached SVG of `width` x `height` user units that scales to its container, titled for assistive technology. */
export function chartFrame(width: number, height: number, margins: Margins, title: string): ChartFrame {
  const svg = d3
    .create('svg')
    .attr('viewBox', `0 0 ${width} ${height}`)
    .attr('width', width)
    .attr('height', height)
    .attr('role', 'img')
    .attr('aria-label', title)
    .attr('class', 'chart')
    .attr('font-family', 'system-ui, sans-serif')
    .attr('font-size', 11);
  svg.append('title').text(title);
  svg.append('rect').attr('width', width).attr('height', height).attr('fill', '#fff');
  const plot = svg.append('g').attr('transform', `translate(${margins.left},${margins.top})`);
  return { svg, plot };
}

/** Hover on a mark reports `text`; its SVG title carries the same words for a tooltip without a pointer. */
export function hoverable<E extends SVGElement, D>(selection: d3.Selection<E, D, SVGGElement, undefined>, text: (d: D) => string, onHover?: HoverHandler) {
  selection.append('title').text(text);
  selection
    .on('pointerenter', function (_event, d) {
      d3.select(this).attr('stroke', '#111').attr('stroke-width', 1.5);
      onHover?.(text(d));
    })
    .on('pointerleave', function () {
      d3.select(this).attr('stroke', null).attr('stroke-width', null);
      onHover?.(null);
    });
}

/** An axis label centred under (x) or beside (y) the plot. */
export function axisLabel(plot: ChartFrame['plot'], text: string, axis: 'x' | 'y', width: number, height: number, offset: number): void {
  const label = plot.append('text').attr('text-anchor', 'middle').attr('fill', '#333').attr('font-size', 12).text(text);
  if (axis === 'x') label.attr('x', width / 2).attr('y', height + offset);
  else label.attr('transform', `translate(${-offset},${height / 2}) rotate(-90)`);
}

/** Exact numbers for hover text: integers as they are, others with 4 significant digits. */
export function exact(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return Number.isInteger(value) ? value.toLocaleString('en-US') : d3.format('.4~g')(value);
}

export function percent(value: number, digits = 1): string {
  return `${(value * 100).toFixed(digits)}%`;
}

/** Distinct colours for series and experts: Tableau 10, then an even walk around the sinebow. */
export function categoricalColor(index: number, count: number): string {
  if (count <= 10) return d3.schemeTableau10[index % 10];
  return d3.interpolateSinebow(index / count);
}

/** Text colour readable on `background` (WCAG relative luminance). */
export function textColorOn(background: string): string {
  const c = d3.rgb(background);
  const channel = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  return luminance > 0.4 ? '#111' : '#fff';
}

/** A label cut to `max` characters with an ellipsis (the hover text keeps the whole name). */
export function shorten(label: string, max = 26): string {
  return label.length > max ? `${label.slice(0, max - 1)}…` : label;
}
