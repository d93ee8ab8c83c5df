/*
 * poll.js: the room list, fetched every REFRESH_MS while signed in: a chain
 * of timeouts rather than an interval, so slow replies never pile up, and a
 * backoff while the server cannot be reached.
 */
import { retryAfterMs } from '../lib/api.js';
import { fmt, t } from '../lib/i18n.js';
import { describeFailure, listRooms } from './api.js';
import { say, setConn } from './page.js';

// REFRESH_MS is how often the room list is fetched and sampled.
export const REFRESH_MS = 2000;
const RETRY_MAX_MS = 15000; // failed refreshes back off up to this

const poll = {
  on: false,
  timer: 0,
  failures: 0, // refreshes failed in a row
  apply: () => {},
};

// onRooms sets what takes each listing: apply(list, startedAt), startedAt
// being the performance.now() at which it was asked for.
export function onRooms(apply) {
  poll.apply = apply;
}

export function startPolling(firstDelayMs = 0) {
  stopPolling();
  poll.on = true;
  poll.timer = setTimeout(pollOnce, Math.max(0, firstDelayMs));
}

export function stopPolling() {
  poll.on = false;
  poll.failures = 0;
  clearTimeout(poll.timer);
  poll.timer = 0;
}

// showLive says the figures are fresh.
export function showLive() {
  setConn('live', t('admin.conn.live', { time: fmt.timeSeconds(Date.now()) }));
}

// One refresh, then the next one REFRESH_MS after this one started.
async function pollOnce() {
  const startedAt = performance.now();
  const reply = await listRooms();
  if (!reply || !poll.on) return;

  let wait;
  if (reply.status === 200 && Array.isArray(reply.data)) {
    if (poll.failures > 0) say(t('admin.conn.back'));
    poll.failures = 0;
    poll.apply(reply.data, startedAt);
    showLive();
    wait = REFRESH_MS - (performance.now() - startedAt);
  } else {
    poll.failures++;
    wait = reply.status === 429
      ? retryAfterMs(reply.retryAfter)
      : Math.min(RETRY_MAX_MS, REFRESH_MS * 2 ** Math.min(poll.failures - 1, 4));
    if (poll.failures === 1) say(t('admin.conn.lostSay'));
    setConn('reconnecting', t('admin.conn.lost', { reason: describeFailure(reply), n: Math.ceil(wait / 1000) }));
  }
  poll.timer = setTimeout(pollOnce, Math.max(200, wait));
}
