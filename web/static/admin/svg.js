/*
 * svg.js: what the admin page's charts (chart.js, history.js) draw with.
 */

export const SVG_NS = 'http://www.w3.org/2000/svg';

// niceScale picks a y axis top that is a whole number of steps, each step
// 1, 2 or 5 times a power of ten; with whole, never a step under 1 (a
// fraction of a visitor).
export function niceScale(max, { whole = false } = {}) {
  if (!(max > 0)) return { step: 1, top: 4 };
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const nice = [1, 2, 5, 10].map((k) => k * magnitude).find((s) => s >= raw);
  const step = whole ? Math.max(1, nice) : nice;
  return { step, top: step * Math.max(1, Math.ceil(max / step)) };
}

// svg makes an SVG element with attrs (numbers rounded to a tenth) and
// text, if any.
export function svg(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attrs)) {
    el.setAttribute(key, typeof value === 'number' ? String(Math.round(value * 10) / 10) : value);
  }
  if (text !== undefined) el.textContent = text;
  return el;
}
