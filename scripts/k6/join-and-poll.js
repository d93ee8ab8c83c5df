// join-and-poll.js — k6 load test of waitroom's join-and-poll flow (docs/API.md):
// each iteration is one visitor who joins a room (POST …/tickets), keeps the
// ticket, and polls its status (GET …/tickets/{ticket}) every 2–5 s until
// admitted, checking the shape of every answer. For WebSocket load, memory
// and tick-propagation figures use cmd/loadgen instead.
//
// Run:
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e ROOM=demo scripts/k6/join-and-poll.js
//
// Environment (default):
//   BASE_URL      waitroom base URL (http://127.0.0.1:8080)
//   ROOM          room id; it must exist (demo)
//   VISITORS      visitors in all, one iteration each (100)
//   VUS           visitors at once (= VISITORS)
//   MAX_WAIT_S    a visitor gives up polling after this long (600)
//   MAX_DURATION  hard stop of the whole run (15m)
//   JOIN_P99_MS   threshold: p99 of join latency (500)
//   STATUS_P99_MS threshold: p99 of status latency (300)
//   ALLOW_REMOTE  set to 1 to target a host other than this machine; load
//                 only systems you run and are allowed to test
//
// waitroom limits joins per client address (WAITROOM_JOIN_RATE, 50/s with a
// burst of 500): from one machine, start the server with -join-rate 0 for
// more; a 429 is waited out (Retry-After) and retried, and counted in
// join_rate_limited.

import http from 'k6/http';
import { check, sleep, fail } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ROOM = __ENV.ROOM || 'demo';
const VISITORS = parseInt(__ENV.VISITORS || '100', 10);
const VUS = parseInt(__ENV.VUS || String(VISITORS), 10);
const MAX_WAIT_S = parseInt(__ENV.MAX_WAIT_S || '600', 10);
const JOIN_P99_MS = parseInt(__ENV.JOIN_P99_MS || '500', 10);
const STATUS_P99_MS = parseInt(__ENV.STATUS_P99_MS || '300', 10);

const hostMatch = /^https?:\/\/(\[[^\]]+\]|[^/:?#]+)/i.exec(BASE_URL);
const host = hostMatch ? hostMatch[1] : '';
const local = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i.test(host);
if (!local && __ENV.ALLOW_REMOTE !== '1') {
  throw new Error(`BASE_URL ${BASE_URL} is not this machine; set ALLOW_REMOTE=1 to load a system you run`);
}
if (!/^[a-z0-9-]{1,64}$/.test(ROOM)) {
  throw new Error(`ROOM ${ROOM}: want 1–64 characters of a-z, 0-9, -`);
}

export const options = {
  scenarios: {
    visitors: {
      executor: 'shared-iterations',
      vus: Math.min(VUS, VISITORS),
      iterations: VISITORS,
      maxDuration: __ENV.MAX_DURATION || '15m',
    },
  },
  thresholds: {
    'http_req_duration{name:join}': [`p(99)<${JOIN_P99_MS}`],
    'http_req_duration{name:status}': [`p(99)<${STATUS_P99_MS}`],
    http_req_failed: ['rate<0.01'],
    checks: ['rate>0.99'],
  },
};

// A 429 on join is the rate limit doing its job, not a failed request.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, 429));

const admitted = new Counter('admitted');
const gaveUp = new Counter('gave_up_waiting');
const rateLimited = new Counter('join_rate_limited');
const timeToAdmission = new Trend('time_to_admission', true);

const STATES = ['waiting', 'prequeue', 'admitted'];

function isInt(v) {
  return typeof v === 'number' && Number.isInteger(v);
}

// checkStatus checks a ticket status body against docs/API.md, per state.
function checkStatus(res, ticket, what) {
  let b = null;
  try {
    b = res.json();
  } catch (e) {
    b = null;
  }
  const ok = check(b, {
    [`${what}: a ticket status`]: (s) => s !== null && typeof s.ticket === 'string' && s.room === ROOM && STATES.includes(s.state),
    [`${what}: the same ticket`]: (s) => s !== null && (ticket === null || s.ticket === ticket),
  });
  if (!ok) {
    return null;
  }
  if (b.state === 'waiting') {
    check(b, {
      [`${what}: waiting has position, ahead, waiting`]: (s) =>
        isInt(s.position) && s.position >= 1 && s.ahead === s.position - 1 && isInt(s.waiting) && s.waiting >= s.position,
      [`${what}: eta_seconds a number or null`]: (s) => s.eta_seconds === null || isInt(s.eta_seconds),
    });
  } else if (b.state === 'prequeue') {
    check(b, {
      [`${what}: prequeue has no position`]: (s) => s.position === null && isInt(s.waiting),
    });
  } else {
    check(b, {
      [`${what}: admitted has an entry token`]: (s) => typeof s.entry_token === 'string' && s.entry_token.split('.').length === 3,
      [`${what}: admitted has expires_at and target_url`]: (s) =>
        !Number.isNaN(Date.parse(s.expires_at)) && typeof s.target_url === 'string' && s.target_url.length > 0,
    });
  }
  return b;
}

function join() {
  const url = `${BASE_URL}/api/rooms/${ROOM}/tickets`;
  const params = { headers: { 'Content-Type': 'application/json' }, tags: { name: 'join' } };
  const deadline = Date.now() + MAX_WAIT_S * 1000;
  for (;;) {
    const res = http.post(url, '{}', params);
    if (res.status !== 429) {
      check(res, { 'join: 201 Created (a new ticket)': (r) => r.status === 201 });
      return res.status === 201 || res.status === 200 ? checkStatus(res, null, 'join') : null;
    }
    rateLimited.add(1);
    if (Date.now() > deadline) {
      return null;
    }
    sleep(Math.max(1, parseInt(res.headers['Retry-After'] || '1', 10)));
  }
}

export default function () {
  const started = Date.now();
  const st = join();
  if (st === null) {
    return;
  }
  const ticket = st.ticket;
  let state = st.state;
  let position = st.position;
  while (state !== 'admitted') {
    if (Date.now() - started > MAX_WAIT_S * 1000) {
      gaveUp.add(1);
      return;
    }
    sleep(2 + Math.random() * 3);
    const res = http.get(`${BASE_URL}/api/rooms/${ROOM}/tickets/${encodeURIComponent(ticket)}`, { tags: { name: 'status' } });
    if (!check(res, { 'status: 200': (r) => r.status === 200 })) {
      if (res.status === 404) {
        fail(`ticket ${ticket} vanished while polling (abandoned? room deleted?)`);
      }
      continue;
    }
    const s = checkStatus(res, ticket, 'status');
    if (s === null) {
      continue;
    }
    if (s.state === 'waiting' && isInt(position)) {
      check(s, { 'status: position never goes up': (x) => x.position <= position });
    }
    state = s.state;
    position = s.position;
  }
  admitted.add(1);
  timeToAdmission.add(Date.now() - started);
}
