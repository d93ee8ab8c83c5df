/*
 * stats.js: a room card's figures (docs/API.md, GET /api/admin/rooms
 * "stats"), read next to the room's config.
 */
import { fmt, t } from '../lib/i18n.js';
import { count } from './api.js';

// renderStats shows a room's last stats; '–' until there are some.
export function renderStats(room) {
  const els = room.els;
  const s = room.stats;
  if (!s) {
    for (const el of [els.waiting, els.admitted, els.rate, els.oldest, els.eta]) el.textContent = '–';
    return;
  }
  const waiting = count(s.waiting);
  const admitted = count(s.admitted);
  const rate = Number(s.admitted_per_minute) > 0 ? Number(s.admitted_per_minute) : 0;
  const config = room.config || {};
  const capacity = count(config.capacity);

  els.waiting.textContent = fmt.int(waiting);
  if (config.mode === 'passthrough') {
    els.admitted.textContent = t('admin.stats.ignored', { n: admitted });
  } else if (capacity > 0) {
    els.admitted.textContent = t('admin.stats.of', { n: admitted, capacity });
  } else {
    els.admitted.textContent = t('admin.stats.noLimit', { n: admitted });
  }
  els.rate.textContent = fmt.int(rate);
  els.oldest.textContent = waiting > 0 ? fmt.span(count(s.oldest_wait_s) * 1000) : '—';
  // The back of the line waits about waiting / rate minutes. No rate, no
  // estimate: the line is not moving (paused, full, or nobody admitted yet).
  if (rate === 0) els.eta.textContent = '—';
  else if (waiting === 0) els.eta.textContent = t('admin.stats.noWait');
  else els.eta.textContent = fmt.wait(waiting / rate) ? t('eta.about', { wait: fmt.wait(waiting / rate) }) : t('eta.underMinute');
}
