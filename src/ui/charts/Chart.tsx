import { useEffect, useRef, useState } from 'react';
import type { HoverHandler } from './common.ts';

interface ChartProps {
  /** Draws the chart (a d3 function: data in, SVG out); called again when it changes identity. */
  draw: (onHover: HoverHandler) => SVGSVGElement;
  /** Names the figure for assistive technology and the tests. */
  label: string;
  /** Shown under the chart: what to read from it. */
  caption?: string;
}

/**
 * Mounts a d3 chart and shows the exact value of the mark under the pointer in a readout line below it (the
 * SVG titles carry the same text as tooltips).
 */
export function Chart({ draw, label, caption }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const [hover, setHover] = useState<string | null>(null);
  useEffect(() => {
    host.current?.replaceChildren(draw(setHover));
  }, [draw]);
  return (
    <figure className="chart-figure" aria-label={label}>
      <div ref={host} className="chart-svg" />
      <figcaption>
        <span className="hover-readout" role="status" data-testid="hover-readout">
          {hover ?? 'Point at a mark for its exact value.'}
        </span>
        {caption && <span className="chart-caption">{caption}</span>}
      </figcaption>
    </figure>
  );
}
