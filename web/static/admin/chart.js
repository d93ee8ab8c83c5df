/*
 * chart.js: the last 10 minutes of a room, from the figures this page has
 * sampled at each refresh, drawn as SVG with DOM calls (no inline style:
 * admin.css colours it, so it follows the light and dark themes), with a
 * text alternative.
 */
import { fmt, t } from '../lib/i18n.js';
import { count } from './api.js';
import { REFRESH_MS } from './poll.js';
import { niceScale, svg } from './svg.js';

const CHART_WINDOW_MS = 10 * 60 * 1000; // the chart shows the last 10 minutes
const CHART_GAP_MS = 3.5 * REFRESH_MS; // samples further apart are not joined by a line
const CHART_HEIGHT = 200; // px; the width follows the card

// addSample records a room's figures at time t, and drops what has left
// the window.
export function addSample(room, t, stats) {
  room.samples.push({ t, waiting: count(stats.waiting), admitted: count(stats.admitted) });
  const oldest = t - CHART_WINDOW_MS - REFRESH_MS;
  while (room.samples.length && room.samples[0].t < oldest) room.samples.shift();
}

// drawChart draws the last CHART_WINDOW_MS of a room's samples as SVG:
// waiting (solid) and admitted (dashed), a dotted capacity line when it
// fits, gridlines with labels on both axes. The SVG's viewBox is the card's
// width in pixels, so text is drawn at its real size.
export function drawChart(room, now) {
  const { chart, chartWrap, chartSummary } = room.els;
  const from = now - CHART_WINDOW_MS;
  const samples = room.samples.filter((s) => s.t >= from);
  chartSummary.textContent = chartSummaryText(room, samples);

  const width = Math.floor(chartWrap.clientWidth);
  if (!width) return; // not laid out (hidden): the next refresh draws it
  const height = CHART_HEIGHT;
  const m = { top: 24, right: 14, bottom: 28, left: 44 };
  const w = Math.max(10, width - m.left - m.right);
  const h = height - m.top - m.bottom;

  let max = 0;
  for (const s of samples) max = Math.max(max, s.waiting, s.admitted);
  const { step, top } = niceScale(max, { whole: true });
  const x = (t) => m.left + ((t - from) / CHART_WINDOW_MS) * w;
  const y = (v) => m.top + h - (v / top) * h;
  const nodes = [];

  // Horizontal gridlines and the y axis labels.
  for (let v = 0; v <= top; v += step) {
    nodes.push(svg('line', { class: 'chart-grid', x1: m.left, x2: m.left + w, y1: y(v), y2: y(v) }));
    nodes.push(svg('text', { class: 'chart-label', x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmt.compact(v)));
  }
  nodes.push(svg('text', { class: 'chart-label', x: 0, y: 12, 'text-anchor': 'start' }, t('admin.chart.visitors')));

  // Vertical gridlines every 2 minutes; labels at 10, 5 and 0 minutes ago.
  for (let minutes = 10; minutes >= 0; minutes -= 2) {
    const gx = x(now - minutes * 60000);
    nodes.push(svg('line', { class: 'chart-grid', x1: gx, x2: gx, y1: m.top, y2: m.top + h }));
  }
  for (const [minutes, anchor] of [[10, 'start'], [5, 'middle'], [0, 'end']]) {
    nodes.push(svg('text', {
      class: 'chart-label', x: x(now - minutes * 60000), y: height - 8, 'text-anchor': anchor,
    }, minutes ? t('admin.chart.minAgo', { n: minutes }) : t('admin.chart.now')));
  }

  // Axes over the grid.
  nodes.push(svg('line', { class: 'chart-axis', x1: m.left, x2: m.left, y1: m.top, y2: m.top + h }));
  nodes.push(svg('line', { class: 'chart-axis', x1: m.left, x2: m.left + w, y1: m.top + h, y2: m.top + h }));

  const capacity = room.config && room.config.mode !== 'passthrough' ? count(room.config.capacity) : 0;
  if (capacity > 0 && capacity <= top) {
    nodes.push(svg('line', { class: 'chart-capacity', x1: m.left, x2: m.left + w, y1: y(capacity), y2: y(capacity) }));
  }

  for (const key of ['waiting', 'admitted']) {
    const d = seriesPath(samples, key, x, y);
    if (d) nodes.push(svg('path', { class: `chart-line chart-${key}`, d }));
    const last = samples[samples.length - 1];
    if (last) nodes.push(svg('circle', { class: `chart-dot-${key}`, cx: x(last.t), cy: y(last[key]), r: 3.5 }));
  }

  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  chart.setAttribute('width', String(width));
  chart.setAttribute('height', String(height));
  chart.replaceChildren(...nodes);
}

// seriesPath joins samples with lines, except across a gap (the tab slept
// or the server was unreachable), where the line breaks. "l0 0" draws a
// lone sample as a dot (the line caps are round).
function seriesPath(samples, key, x, y) {
  let d = '';
  let prev = -Infinity;
  for (const s of samples) {
    const px = x(s.t).toFixed(1);
    const py = y(s[key]).toFixed(1);
    d += s.t - prev > CHART_GAP_MS ? `M${px} ${py}l0 0` : `L${px} ${py}`;
    prev = s.t;
  }
  return d;
}

// The chart's text alternative (the SVG's aria-describedby).
function chartSummaryText(room, samples) {
  if (samples.length === 0) {
    return t('admin.chart.empty');
  }
  const last = samples[samples.length - 1];
  let peakWaiting = 0;
  let lowWaiting = Infinity;
  let peakAdmitted = 0;
  for (const s of samples) {
    peakWaiting = Math.max(peakWaiting, s.waiting);
    lowWaiting = Math.min(lowWaiting, s.waiting);
    peakAdmitted = Math.max(peakAdmitted, s.admitted);
  }
  const span = fmt.span(Math.max(1000, last.t - samples[0].t));
  const total = room.stats && room.stats.admitted_total != null
    ? ' ' + t('admin.chart.total', { n: count(room.stats.admitted_total) })
    : '';
  return t('admin.chart.summary', { span, waiting: last.waiting, highWaiting: peakWaiting, lowWaiting,
    admitted: last.admitted, highAdmitted: peakAdmitted }) + total;
}
