/*
 * api.js: the operator API (docs/API.md, "Operator API") as this page
 * calls it, with the operator token.
 *
 * The token lives here in memory (and in the tab's sessionStorage, see
 * session.js), nowhere else. Each sign-in and sign-out starts a new
 * generation, so a reply that belongs to an earlier one is dropped.
 */
import { errorMessage, request } from '../lib/api.js';
import { urlFor } from '../lib/base.js';
import { t } from '../lib/i18n.js';

const REQUEST_TIMEOUT_MS = 20000; // the server waits up to 5 s before refusing a token

let token = null;
let gen = 0;
let refused = () => {};

// begin starts a session with `value` as the token and returns its generation.
export function begin(value) {
  token = value;
  return ++gen;
}

// end forgets the token; replies still on their way are dropped.
export function end() {
  token = null;
  gen++;
}

// isCurrent says whether generation g is still the session in use.
export function isCurrent(g) {
  return g === gen;
}

// onTokenRefused sets what happens when a signed-in call gets 401.
export function onTokenRefused(fn) {
  refused = fn;
}

// call makes a request with the token and returns {status, data,
// retryAfter}. It never throws: a network error or a timeout is status 0.
export async function call(method, path, body) {
  try {
    return await request(method, path, { body, token, timeoutMs: REQUEST_TIMEOUT_MS });
  } catch {
    return { status: 0, data: null, retryAfter: null };
  }
}

// authed is call() for a signed-in page. It returns null when the caller
// should stop: the token was refused (and the page asks for it again), or
// the operator signed out or in again while the request was out.
export function authed(method, path, body) {
  return signedIn(() => call(method, path, body));
}

// signedIn awaits send(), a request of the signed-in operator, and returns
// its reply, or null as authed does.
async function signedIn(send) {
  const g = gen;
  const reply = await send();
  if (g !== gen) return null;
  if (reply.status === 401) {
    end();
    refused();
    return null;
  }
  return reply;
}

// listRooms is GET /api/admin/rooms, signed in.
export function listRooms() {
  return authed('GET', 'api/admin/rooms');
}

// checkToken is GET /api/admin/rooms with a token not yet known to work.
export function checkToken() {
  return call('GET', 'api/admin/rooms');
}

// putRoom sends PUT /api/admin/rooms/{room}: a creation or a config patch.
export function putRoom(id, patch) {
  return authed('PUT', roomPath(id), patch);
}

// deleteRoom sends DELETE /api/admin/rooms/{room}.
export function deleteRoom(id) {
  return authed('DELETE', roomPath(id));
}

// historyOf is GET /api/admin/rooms/{room}/history as JSON.
export function historyOf(id, since, step) {
  return authed('GET', historyPath(id, since, step));
}

// downloadHistory is the same history as CSV: {status, blob}, or null
// when the caller should stop (as authed).
export function downloadHistory(id, since, step) {
  return signedIn(async () => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), REQUEST_TIMEOUT_MS);
    try {
      const res = await fetch(urlFor(historyPath(id, since, step)), {
        headers: { Accept: 'text/csv', Authorization: 'Bearer ' + token },
        credentials: 'same-origin', cache: 'no-store', signal: ctl.signal,
      });
      return { status: res.status, blob: res.ok ? await res.blob() : null };
    } catch {
      return { status: 0, blob: null }; // unreachable or timed out
    } finally {
      clearTimeout(timer);
    }
  });
}

function historyPath(id, since, step) {
  return `${roomPath(id)}/history?since=${encodeURIComponent(since)}&step=${encodeURIComponent(step)}`;
}

function roomPath(id) {
  return 'api/admin/rooms/' + encodeURIComponent(id);
}

// describeFailure: one sentence for a failed reply.
export function describeFailure(reply) {
  if (!reply || reply.status === 0) return t('admin.fail.unreachable');
  const message = errorMessage(reply.data);
  if (message) return message;
  return t('admin.fail.http', { status: String(reply.status) });
}

// count reads a non-negative whole number from the API, 0 if missing.
export function count(value) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}
