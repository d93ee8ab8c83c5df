/*
 * stats.js: a room card's figures (docs/API.md, GET /api/admin/rooms
 * "stats"), read next to the room's config.
 */
import { formatDuration, formatInt, formatWait } from '../lib/format.js';
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

  els.waiting.textContent = formatInt(waiting);
  if (config.mode === 'passthrough') {
    els.admitted.textContent = `${formatInt(admitted)} (capacity ignored)`;
  } else if (capacity > 0) {
    els.admitted.textContent = `${formatInt(admitted)} of ${formatInt(capacity)}`;
  } else {
    els.admitted.textContent = `${formatInt(admitted)} (no limit)`;
  }
  els.rate.textContent = formatInt(rate);
  els.oldest.textContent = waiting > 0 ? formatDuration(count(s.oldest_wait_s) * 1000) : '—';
  // The back of the line waits about waiting / rate minutes. No rate, no
  // estimate: the line is not moving (paused, full, or nobody admitted yet).
  if (rate === 0) els.eta.textContent = '—';
  else if (waiting === 0) els.eta.textContent = 'no wait';
  else els.eta.textContent = formatWait(waiting / rate);
}
