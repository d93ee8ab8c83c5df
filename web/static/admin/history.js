/*
 * history.js: a room's sale, drawn from GET /api/admin/rooms/{room}/history
 * (docs/API.md, "Sale history"): the history lives in Redis, so a reload
 * shows the whole sale again, and it is fetched anew every 10 s while the
 * card is on the page. Four SVG charts (arrivals and admissions per minute,
 * the line, visitors inside against capacity, the wait p50/p95), each with
 * a text summary and a data table behind a disclosure; a summary of the
 * range; the range's CSV as a download.
 *
 * Hand-written SVG rather than a charting library: four line charts need
 * no more than chart.js already draws, and SVG text and DOM stay readable
 * to assistive technology and follow the theme's CSS (a canvas library
 * would need the tables anyway and 50 KB more).
 */
import { fmt, t, translate } from '../lib/i18n.js';
import { tabStorage } from '../lib/storage.js';
import { count, downloadHistory, historyOf } from './api.js';
import { fillStats, part } from './page.js';
import { niceScale, SVG_NS, svg } from './svg.js';

export const HISTORY_REFRESH_MS = 10000;
const RANGES = { start: 0, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3 };
const STEP_FOR = { '1h': '10s', '6h': '1m', '24h': '5m' };
const CHART_HEIGHT = 180;
const SUMMARY = ['arrived', 'admitted', 'abandoned', 'left', 'no_show', 'wait_p50_s', 'wait_p95_s', 'peak_waiting'];

// The charts: series of the history's points, and the unit of their values.
const CHARTS = [
  { id: 'flow', perMinute: true, series: [['arrived', 'arrived'], ['admitted', 'admitted']] },
  { id: 'line', series: [['waiting', 'waiting']] },
  { id: 'inside', capacity: true, series: [['admitted_now', 'inside']] },
  { id: 'wait', seconds: true, series: [['wait_p50_s', 'p50'], ['wait_p95_s', 'p95']] },
];

const tracked = new Set();
let timer = 0;

// setupHistory fills a room card's history section and starts keeping it
// up to date. The chosen range is kept per room across reloads.
export function setupHistory(room) {
  const els = room.els;
  const section = part(room.card, 'history');
  const prefix = 'r-' + room.id + '-history';
  const h = {
    range: readRange(room.id),
    step: '1m', // for "from start": follows the span of the last answer
    data: null,
    busy: false,
    select: part(section, 'history-range'),
    csv: part(section, 'history-csv'),
    status: part(section, 'history-status'),
    updated: part(section, 'history-updated'),
    charts: part(section, 'history-charts'),
    summary: fillStats(part(section, 'history-summary'), SUMMARY.map((k) => [k, 'admin.history.sum.' + k]), 'data-sum'),
  };
  translate(part(section, 'history-summary'));
  h.select.id = prefix + '-range';
  part(section, 'history-range-label').htmlFor = h.select.id;
  h.select.value = h.range;
  h.select.addEventListener('change', () => {
    h.range = h.select.value in RANGES ? h.select.value : 'start';
    h.step = '1m';
    // The tab's storage, like the operator token: kept across a reload.
    tabStorage.set(rangeKey(room.id), h.range);
    refresh(room);
  });
  h.csv.addEventListener('click', () => saveCSV(room));

  h.views = CHARTS.map((c) => newChartView(c, prefix));
  h.charts.replaceChildren(...h.views.map((v) => v.figure));
  translate(h.charts);
  room.history = h;
  els.history = section;
  tracked.add(room);
  if (!timer) timer = setInterval(refreshAll, HISTORY_REFRESH_MS);
  refresh(room);
}

function newChartView(c, prefix) {
  const figure = document.createElement('figure');
  figure.className = 'history-chart';
  const title = document.createElement('h5');
  title.id = `${prefix}-${c.id}-title`;
  title.dataset.i18n = `admin.history.chart.${c.id}`;
  const wrap = document.createElement('div');
  wrap.className = 'chart-wrap';
  const chart = document.createElementNS(SVG_NS, 'svg');
  chart.setAttribute('class', 'chart');
  chart.setAttribute('role', 'img');
  chart.setAttribute('focusable', 'false');
  chart.setAttribute('aria-labelledby', title.id);
  const summary = document.createElement('p');
  summary.className = 'muted chart-summary';
  summary.id = `${prefix}-${c.id}-summary`;
  chart.setAttribute('aria-describedby', summary.id);
  wrap.append(chart);
  const legend = document.createElement('ul');
  legend.className = 'legend';
  legend.setAttribute('aria-hidden', 'true');
  c.series.forEach(([, name], i) => {
    const li = document.createElement('li');
    const sw = document.createElement('span');
    sw.className = `swatch swatch-s${i}`;
    const label = document.createElement('span');
    label.dataset.i18n = `admin.history.series.${name}`;
    li.append(sw, label);
    legend.append(li);
  });
  const details = document.createElement('details');
  const disclose = document.createElement('summary');
  disclose.dataset.i18n = 'admin.history.table';
  const scroll = document.createElement('div');
  scroll.className = 'history-table';
  // A scrolled region is reached and scrolled by keyboard too.
  scroll.tabIndex = 0;
  scroll.setAttribute('role', 'region');
  scroll.setAttribute('aria-labelledby', title.id);
  const table = document.createElement('table');
  scroll.append(table);
  details.append(disclose, scroll);
  figure.append(title, wrap, legend, summary, details);
  return { c, figure, chart, wrap, summary, table, details };
}

function refreshAll() {
  for (const room of tracked) {
    if (!room.card.isConnected) {
      tracked.delete(room);
      continue;
    }
    refresh(room);
  }
  if (!tracked.size) {
    clearInterval(timer);
    timer = 0;
  }
}

// refresh fetches the room's history for the chosen range and draws it.
async function refresh(room) {
  const h = room.history;
  if (!h || h.busy) return;
  h.busy = true;
  const range = h.range;
  const step = range === 'start' ? h.step : STEP_FOR[range];
  const since = range === 'start' ? '2000-01-01T00:00:00Z' : new Date(Date.now() - RANGES[range]).toISOString().replace(/\.\d+Z$/, 'Z');
  const reply = await historyOf(room.id, since, step);
  h.busy = false;
  if (!reply || range !== h.range) return;
  if (reply.status !== 200 || !reply.data || !Array.isArray(reply.data.points)) {
    h.status.dataset.state = 'error';
    h.status.textContent = t('admin.history.failed');
    return;
  }
  if (h.status.dataset.state === 'error') {
    h.status.dataset.state = '';
    h.status.textContent = '';
  }
  h.data = reply.data;
  if (range === 'start') h.step = stepForSpan(reply.data.points);
  h.updated.textContent = t('admin.history.updated', { time: fmt.timeSeconds(Date.now()) });
  renderHistory(room);
}

// stepForSpan keeps a "from start" chart at a few hundred points.
function stepForSpan(points) {
  if (points.length < 2) return '10s';
  const span = Date.parse(points[points.length - 1].t) - Date.parse(points[0].t);
  if (span <= 3600e3) return '10s';
  if (span <= 6 * 3600e3) return '1m';
  return '5m';
}

// renderHistory draws the last answer (also after a resize).
export function renderHistory(room) {
  const h = room.history;
  if (!h || !h.data) return;
  const s = h.data.summary || {};
  for (const key of SUMMARY) {
    const el = h.summary[key];
    if (!el) continue;
    if (key.startsWith('wait_')) el.textContent = s[key] == null ? '—' : waitText(s[key]);
    else el.textContent = fmt.int(count(s[key]));
  }
  const capacity = room.config && room.config.mode !== 'passthrough' ? count(room.config.capacity) : 0;
  for (const v of h.views) drawView(v, h.data, capacity);
}

function waitText(seconds) {
  return seconds < 1 ? t('admin.history.underSecond') : fmt.span(seconds * 1000);
}

// values is a series of the points, per minute where the chart says so;
// null where there is none (no admission: no wait).
function values(v, data, key) {
  const perMin = 60 / (Number(data.step_s) || 60);
  return data.points.map((p) => {
    const x = p[key];
    if (x == null || !Number.isFinite(Number(x))) return null;
    return v.c.perMinute ? Number(x) * perMin : Number(x);
  });
}

function drawView(v, data, capacity) {
  const times = data.points.map((p) => Date.parse(p.t));
  const series = v.c.series.map(([key, name]) => ({ key, name, vals: values(v, data, key) }));
  v.summary.textContent = summaryText(v, series, times, capacity);
  // The table is rebuilt only for a new answer: a reader inside it keeps
  // their place while the page redraws for other reasons.
  if (v.tableData !== data) {
    fillTable(v, series, times);
    v.tableData = data;
  }

  const width = Math.floor(v.wrap.clientWidth);
  if (!width) return;
  const m = { top: 12, right: 14, bottom: 28, left: 48 };
  const w = Math.max(10, width - m.left - m.right);
  const hgt = CHART_HEIGHT - m.top - m.bottom;
  let max = v.c.capacity ? capacity : 0;
  for (const s of series) for (const x of s.vals) if (x != null) max = Math.max(max, x);
  const { step, top } = niceScale(max);
  const from = times[0] || 0;
  const span = Math.max(1, (times[times.length - 1] || 0) - from);
  const x = (ms) => m.left + ((ms - from) / span) * w;
  const y = (val) => m.top + hgt - (val / top) * hgt;
  const nodes = [];
  for (let val = 0; val <= top + 1e-9; val += step) {
    nodes.push(svg('line', { class: 'chart-grid', x1: m.left, x2: m.left + w, y1: y(val), y2: y(val) }));
    nodes.push(svg('text', { class: 'chart-label', x: m.left - 6, y: y(val) + 4, 'text-anchor': 'end' },
      v.c.seconds ? fmt.compact(val) + 's' : fmt.compact(val)));
  }
  const label = span > 20 * 3600e3 ? (ms) => fmt.dateTime(ms, 'short') : fmt.time;
  if (times.length) {
    for (const [ms, anchor] of [[from, 'start'], [from + span / 2, 'middle'], [from + span, 'end']]) {
      nodes.push(svg('text', { class: 'chart-label', x: x(ms), y: CHART_HEIGHT - 8, 'text-anchor': anchor }, label(ms)));
    }
  }
  nodes.push(svg('line', { class: 'chart-axis', x1: m.left, x2: m.left, y1: m.top, y2: m.top + hgt }));
  nodes.push(svg('line', { class: 'chart-axis', x1: m.left, x2: m.left + w, y1: m.top + hgt, y2: m.top + hgt }));
  if (v.c.capacity && capacity > 0) {
    nodes.push(svg('line', { class: 'chart-capacity', x1: m.left, x2: m.left + w, y1: y(capacity), y2: y(capacity) }));
  }
  series.forEach((s, i) => {
    let d = '';
    let gap = true;
    s.vals.forEach((val, j) => {
      if (val == null) {
        gap = true;
        return;
      }
      const px = x(times[j]).toFixed(1);
      const py = y(val).toFixed(1);
      d += gap ? `M${px} ${py}l0 0` : `L${px} ${py}`;
      gap = false;
    });
    if (d) nodes.push(svg('path', { class: `chart-line chart-s${i}`, d }));
  });
  v.chart.setAttribute('viewBox', `0 0 ${width} ${CHART_HEIGHT}`);
  v.chart.setAttribute('width', String(width));
  v.chart.setAttribute('height', String(CHART_HEIGHT));
  v.chart.replaceChildren(...nodes);
}

function format(v, val) {
  if (val == null) return '—';
  if (v.c.seconds) return waitText(val);
  return v.c.perMinute ? fmt.compact(Math.round(val * 10) / 10) : fmt.int(val);
}

function summaryText(v, series, times, capacity) {
  if (!times.length) return t('admin.history.empty');
  const parts = series.map((s) => {
    const known = s.vals.filter((x) => x != null);
    const last = s.vals[s.vals.length - 1];
    const high = known.length ? Math.max(...known) : null;
    return t('admin.history.seriesSummary', {
      name: t(`admin.history.series.${s.name}`), now: format(v, last ?? null), high: format(v, high),
    });
  });
  let text = t(`admin.history.summary.${v.c.id}`, { span: fmt.span(Math.max(1000, times[times.length - 1] - times[0])) }) + ' ' + parts.join(' ');
  if (v.c.capacity && capacity > 0) text += ' ' + t('admin.history.capacity', { capacity });
  return text;
}

// fillTable writes the chart's data table: one row per point, newest first.
function fillTable(v, series, times) {
  const caption = document.createElement('caption');
  caption.textContent = t(`admin.history.chart.${v.c.id}`);
  const head = document.createElement('tr');
  const th = (text) => {
    const el = document.createElement('th');
    el.scope = 'col';
    el.textContent = text;
    return el;
  };
  head.append(th(t('admin.history.time')), ...series.map((s) => th(t(`admin.history.series.${s.name}`))));
  const thead = document.createElement('thead');
  thead.append(head);
  const tbody = document.createElement('tbody');
  for (let j = times.length - 1; j >= 0; j--) {
    const tr = document.createElement('tr');
    const when = document.createElement('th');
    when.scope = 'row';
    when.textContent = fmt.dateTime(times[j], 'short');
    tr.append(when);
    for (const s of series) {
      const td = document.createElement('td');
      td.textContent = format(v, s.vals[j]);
      tr.append(td);
    }
    tbody.append(tr);
  }
  v.table.replaceChildren(caption, thead, tbody);
}

// saveCSV downloads the chosen range as CSV (Accept: text/csv).
async function saveCSV(room) {
  const h = room.history;
  const range = h.range;
  const step = range === 'start' ? h.step : STEP_FOR[range];
  const since = range === 'start' ? '2000-01-01T00:00:00Z' : new Date(Date.now() - RANGES[range]).toISOString().replace(/\.\d+Z$/, 'Z');
  h.status.dataset.state = '';
  h.status.textContent = t('admin.history.csvPreparing');
  const reply = await downloadHistory(room.id, since, step);
  if (!reply) return;
  if (reply.status !== 200 || !reply.blob) {
    h.status.dataset.state = 'error';
    h.status.textContent = t('admin.history.csvFailed');
    return;
  }
  const url = URL.createObjectURL(reply.blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${room.id}-history.csv`;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  h.status.textContent = t('admin.history.csvDone', { file: a.download });
}

function rangeKey(id) {
  return 'wr_admin_history_range_' + id;
}

function readRange(id) {
  const r = tabStorage.get(rangeKey(id));
  if (r && r in RANGES) return r;
  return 'start';
}

