/**
 * The model card's loss curves as a standalone SVG (pure string building, no DOM): training loss per logged step
 * (faint) and its moving average over `smooth` steps, validation loss on the fixed slice (points) and on the whole
 * validation split (a marked point), against tokens seen. Nats per token on the y axis.
 */
export interface LossPoint {
  tokens: number;
  loss: number;
}

export interface LossCurves {
  train: LossPoint[];
  validation: LossPoint[];
  fullValidation: LossPoint[];
  title: string;
}

const WIDTH = 720;
const HEIGHT = 400;
const MARGIN = { left: 64, right: 20, top: 36, bottom: 48 };

function niceTicks(min: number, max: number, count: number): number[] {
  const span = max - min || 1;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= step0)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

/** Moving average over the previous `window` points (fewer at the start). */
export function movingAverage(points: LossPoint[], window: number): LossPoint[] {
  let sum = 0;
  return points.map((p, i) => {
    sum += p.loss;
    if (i >= window) sum -= points[i - window].loss;
    return { tokens: p.tokens, loss: sum / Math.min(i + 1, window) };
  });
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function lossCurvesSvg(c: LossCurves, smooth = 20): string {
  const all = [...c.train, ...c.validation, ...c.fullValidation];
  const maxTokens = Math.max(...all.map((p) => p.tokens), 1);
  const losses = all.map((p) => p.loss).filter(Number.isFinite);
  const yMin = Math.floor(Math.min(...losses) * 2) / 2;
  const yMax = Math.ceil(Math.max(...losses) * 2) / 2;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (tokens: number) => MARGIN.left + (tokens / maxTokens) * plotW;
  const y = (loss: number) => MARGIN.top + (1 - (loss - yMin) / (yMax - yMin || 1)) * plotH;
  const path = (points: LossPoint[]) => points.map((p, i) => `${i ? 'L' : 'M'}${x(p.tokens).toFixed(1)},${y(p.loss).toFixed(1)}`).join('');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escape(c.title)}</text>`,
  ];
  for (const t of niceTicks(yMin, yMax, 6)) {
    parts.push(`<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(0, maxTokens / 1e6, 6)) {
    parts.push(`<text x="${x(t * 1e6).toFixed(1)}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 10}" text-anchor="middle">training tokens (millions)</text>`);
  parts.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">loss (nats per token)</text>`);
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  if (c.train.length) {
    parts.push(`<path d="${path(c.train)}" fill="none" stroke="#9ecae1" stroke-width="1"/>`);
    parts.push(`<path d="${path(movingAverage(c.train, smooth))}" fill="none" stroke="#08519c" stroke-width="2"/>`);
  }
  if (c.validation.length) {
    parts.push(`<path d="${path(c.validation)}" fill="none" stroke="#e6550d" stroke-width="1.5" stroke-dasharray="4 3"/>`);
    for (const p of c.validation) parts.push(`<circle cx="${x(p.tokens).toFixed(1)}" cy="${y(p.loss).toFixed(1)}" r="3" fill="#e6550d"/>`);
  }
  for (const p of c.fullValidation) {
    parts.push(`<rect x="${(x(p.tokens) - 4).toFixed(1)}" y="${(y(p.loss) - 4).toFixed(1)}" width="8" height="8" fill="#31a354"/>`);
  }
  const legend: [string, string][] = [
    ['#9ecae1', 'training loss (each logged step)'],
    ['#08519c', `training loss, mean of ${smooth} steps`],
    ['#e6550d', 'validation loss (fixed slice)'],
    ['#31a354', 'validation loss (whole split)'],
  ];
  legend.forEach(([color, label], i) => {
    const ly = MARGIN.top + 14 + i * 16;
    parts.push(`<rect x="${WIDTH - MARGIN.right - 230}" y="${ly - 9}" width="10" height="10" fill="${color}"/>`);
    parts.push(`<text x="${WIDTH - MARGIN.right - 214}" y="${ly}">${escape(label)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
