/*
 * format.js: numbers, durations and times as the pages show them, in the
 * browser's locale where the browser formats them. The English words of
 * these formats live here only, one place for a later language file to
 * replace.
 */

// formatInt: 12,345 in the visitor's locale.
export function formatInt(n) {
  return Number(n).toLocaleString();
}

// formatCompact: axis labels, 950, 1.2k, 15k, 1.5M.
export function formatCompact(n) {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${Number((n / 1000).toFixed(n < 10000 ? 1 : 0))}k`;
  return `${Number((n / 1e6).toFixed(n < 1e7 ? 1 : 0))}M`;
}

// formatCountdown: a time left to the second, rounded up, "1 h 05 min 09 s".
export function formatCountdown(ms) {
  const total = Math.ceil(ms / 1000);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n) => String(n).padStart(2, '0');
  if (d) return `${d} d ${h} h ${two(m)} min`;
  if (h) return `${h} h ${two(m)} min ${two(s)} s`;
  if (m) return `${m} min ${two(s)} s`;
  return `${s} s`;
}

// formatDuration: a span in its two largest units, rounded, "1 h 5 min".
export function formatDuration(ms) {
  const total = Math.round(ms / 1000);
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return s ? `${m} min ${s} s` : `${m} min`;
  return `${s} s`;
}

// formatWait: an estimate in minutes, "about 1 h 5 min"; under one minute
// it is `under`.
export function formatWait(minutes, under = 'under 1 min') {
  if (minutes < 1) return under;
  const total = Math.round(minutes);
  if (total < 60) return `about ${total} min`;
  const h = Math.floor(total / 60);
  const m = total % 60;
  return m ? `about ${h} h ${m} min` : `about ${h} h`;
}

// formatClock: a countdown as a clock, "4:59" or "1:04:59".
export function formatClock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

// formatLocalTime: a moment in the visitor's own time zone and locale;
// dateStyle is Intl's ('full', 'medium', …).
export function formatLocalTime(ms, dateStyle = 'medium') {
  const date = new Date(ms);
  try {
    return date.toLocaleString(undefined, { dateStyle, timeStyle: 'short' });
  } catch {
    return date.toLocaleString();
  }
}

// formatTimeOfDay: the time of a Date to the second, in the visitor's locale.
export function formatTimeOfDay(date) {
  try {
    return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  } catch {
    return date.toLocaleTimeString();
  }
}
