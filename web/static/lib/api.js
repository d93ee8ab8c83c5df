/*
 * api.js: JSON requests to waitroom's HTTP APIs (docs/API.md), and reading
 * their answers: error codes, Retry-After, and the server's clock.
 */
import { urlFor } from './base.js';

const REQUEST_TIMEOUT_MS = 15000; // a hung request must not stall a page forever

// Server time minus local time, from the Date header of every reply, so
// countdowns stay right on a device whose clock is wrong.
let clockOffsetMs = 0;

// serverNow is the time by the server's clock, in ms since the epoch.
export function serverNow() {
  return Date.now() + clockOffsetMs;
}

// Date has one-second resolution and the reply took time to arrive, so only
// a clearly wrong local clock is corrected.
function noteServerDate(header) {
  const server = Date.parse(header || '');
  if (Number.isNaN(server)) return;
  const offset = server - Date.now();
  clockOffsetMs = Math.abs(offset) > 2000 ? offset : 0;
}

// request makes a same-origin JSON request to path, relative to waitroom's
// root ('api/rooms/demo/tickets'), with `body` as JSON and `token` as the
// bearer token when given. It resolves to {status, data, retryAfter} for any
// HTTP answer (data is null when the body is empty or not JSON, say a
// proxy's error page) and rejects only on network errors and timeouts.
export async function request(method, path, { body, token, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const headers = { Accept: 'application/json' };
  const init = { method, headers, signal: ctl.signal, credentials: 'same-origin', cache: 'no-store' };
  if (token) headers.Authorization = 'Bearer ' + token;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(urlFor(path), init);
    noteServerDate(res.headers.get('Date'));
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch {
        // Empty, cut off, or not JSON.
      }
    }
    return { status: res.status, data, retryAfter: res.headers.get('Retry-After') };
  } finally {
    clearTimeout(timer);
  }
}

// errorCode is the code of the contract's error shape, or ''.
export function errorCode(data) {
  return data && data.error && typeof data.error.code === 'string' ? data.error.code : '';
}

// errorMessage is the message of the contract's error shape, or ''.
export function errorMessage(data) {
  return data && data.error && typeof data.error.message === 'string' ? data.error.message : '';
}

// retryAfterMs reads Retry-After, seconds or an HTTP date; without one, 5 s.
// Clamped so a bad header can neither hammer the server nor strand a page.
export function retryAfterMs(header) {
  let ms = NaN;
  if (header && /^\s*\d+\s*$/.test(header)) ms = Number(header) * 1000;
  else if (header) ms = Date.parse(header) - serverNow();
  if (!Number.isFinite(ms)) ms = 5000;
  return Math.min(300000, Math.max(1000, ms));
}
