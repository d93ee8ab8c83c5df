/*
 * booking.js: the booking page, served at /booking/{room}.
 *
 * The waiting page hands over the entry token in this page's URL fragment
 * (#wr_entry=<token>), which no server sees; the page moves it at once into
 * this tab's sessionStorage and out of the address bar. Every call here
 * sends it as "Authorization: Bearer <token>". The page shows the seat map (available,
 * held, booked, and the visitor's own), lets the visitor hold a seat, confirm
 * it, cancel it and check out, and counts down the holds and the admission.
 * When the booking API says the admission is over (or the token is missing
 * or refused) the page says so plainly and links back to the line,
 * /rooms/<room> (under the same prefix as this page, if any).
 *
 * The seat map is polled, not pushed: seats change hands rarely compared to
 * how often a visitor looks, and a poll every few seconds costs the server
 * one cheap request.
 *
 * No framework and no build step: ES modules, shared ones in lib/; nothing
 * inline, so the page runs under "default-src 'self'". Every URL comes from
 * lib/base.js, so the page works under a path prefix too.
 */
import { announcer } from './lib/announce.js';
import { errorCode, errorMessage as serverMessage, request, serverNow } from './lib/api.js';
import { pathFor, roomIn } from './lib/base.js';
import { fmt, languageSwitch, nodes, t, translate } from './lib/i18n.js';
import { tabStorage as storage } from './lib/storage.js';

// ---- Tunables -----------------------------------------------------------

const POLL_MS = 4000; // seat map refresh while the page is looked at…
const POLL_BIG_MAP_MS = 15000; // …for maps of more than BIG_MAP seats…
const POLL_HIDDEN_MS = 20000; // …and while the tab is in the background
const BIG_MAP = 2000;
const RETRY_MS = 5000; // after a network error
const ARM_MS = 4000; // how long "Really cancel?" waits for the second click

// ---- Elements -----------------------------------------------------------

const byId = (id) => document.getElementById(id);
const ui = {
  roomLabel: byId('room-label'),
  langSwitch: byId('lang-switch'),
  heading: byId('heading'),
  admission: byId('admission'),
  admissionLeft: byId('admission-left'),
  notice: byId('notice'),
  views: {
    loading: byId('view-loading'),
    seats: byId('view-seats'),
    done: byId('view-done'),
    ended: byId('view-ended'),
  },
  seatmap: byId('seatmap'),
  mapSummary: byId('map-summary'),
  mapEmpty: byId('map-empty'),
  holds: byId('holds'),
  holdsEmpty: byId('holds-empty'),
  bookings: byId('bookings'),
  bookingsEmpty: byId('bookings-empty'),
  checkout: byId('checkout'),
  checkoutConfirm: byId('checkout-confirm'),
  checkoutYes: byId('checkout-yes'),
  checkoutNo: byId('checkout-no'),
  doneSummary: byId('done-summary'),
  doneBookings: byId('done-bookings'),
  endedTitle: byId('ended-title'),
  endedMessage: byId('ended-message'),
  endedDetail: byId('ended-detail'),
  backToLine: byId('back-to-line'),
  doneBack: byId('done-back'),
  announcer: byId('announcer'),
};

// ---- State --------------------------------------------------------------

const room = roomIn('booking');
const apiBase = 'api/events/' + room;
const lineUrl = pathFor('rooms/' + room);
const tokenKey = 'wr_entry_' + room;

const state = {
  token: null,
  admissionEnds: NaN, // ms, server clock, from the token's exp
  seats: [], // [{seat, state, mine}] as last listed
  mapKey: '', // the seat ids joined, to tell when the map itself changed
  buttons: new Map(), // seat id -> button
  holds: [], // [{seat, held_until, ends}]
  bookings: [], // [{seat, booking_id}]
  over: false, // ended or checked out: no more requests
  busy: false, // a hold, booking or checkout is in flight
  pollTimer: 0,
  tickTimer: 0,
  refreshing: null, // the refresh in flight, if any
  forcedAt: 0, // when a timer last forced a refresh
  focusAfter: '', // selector of what to focus once an action's refresh is shown
};

// ---- API ----------------------------------------------------------------

// api calls the booking API with the entry token. It resolves to
// {status, data} for any HTTP answer and rejects only on network failure.
function api(method, path, body) {
  return request(method, path, { body, token: state.token });
}

// errorMessage: the server's words for a failed reply, or ours.
function errorMessage(reply) {
  return serverMessage(reply && reply.data) || t('booking.error');
}

// authFailed ends the page when the API refused the visitor's admission.
function authFailed(reply) {
  const code = errorCode(reply.data);
  if (reply.status === 401 || (reply.status === 403 && code === 'wrong_room')) {
    showEnded(code || 'invalid_token');
    return true;
  }
  return false;
}

// ---- Refresh ----------------------------------------------------------------

function schedulePoll(ms) {
  clearTimeout(state.pollTimer);
  if (state.over) return;
  state.pollTimer = setTimeout(poll, ms);
}

async function poll() {
  const ok = await refresh();
  if (state.over) return;
  let next = state.seats.length > BIG_MAP ? POLL_BIG_MAP_MS : POLL_MS;
  if (document.hidden) next = POLL_HIDDEN_MS;
  schedulePoll(ok ? next : RETRY_MS);
}

// refresh reads the seat map, the visitor's holds and bookings, and shows
// them. Concurrent callers share one refresh. It resolves to false on a
// network or server failure.
function refresh() {
  if (!state.refreshing) {
    state.refreshing = doRefresh().finally(() => {
      state.refreshing = null;
    });
  }
  return state.refreshing;
}

async function doRefresh() {
  if (state.over) return false;
  let replies;
  try {
    replies = await Promise.all([
      api('GET', apiBase + '/seats'),
      api('GET', apiBase + '/holds'),
      api('GET', apiBase + '/bookings'),
    ]);
  } catch {
    setNotice(t('booking.unreachableRetrying'), true);
    return false;
  }
  if (state.over) return false;
  for (const r of replies) {
    if (authFailed(r)) return false;
  }
  const bad = replies.find((r) => r.status !== 200 || !Array.isArray(r.data));
  if (bad) {
    setNotice(t('booking.failedRetrying', { reason: errorMessage(bad) }), true);
    return false;
  }
  if (ui.notice.dataset.kind === 'connection') setNotice('');
  const [seats, holds, bookings] = replies.map((r) => r.data);
  state.seats = seats;
  state.holds = holds.map((h) => ({ ...h, ends: Date.parse(h.held_until) }));
  state.bookings = bookings;
  render();
  return true;
}

// ---- Rendering ----------------------------------------------------------------

function render() {
  showView('seats');
  renderMap();
  renderBasket();
  tick();
}

function renderMap() {
  const seats = state.seats;
  const key = seats.length + ':' + seats.map((s) => s.seat).join(',');
  if (key !== state.mapKey) buildMap(seats, key);
  let available = 0;
  for (const s of seats) {
    const b = state.buttons.get(s.seat);
    if (!b) continue;
    const mine = s.mine ? 'true' : 'false';
    if (b.dataset.state !== s.state || b.dataset.mine !== mine) {
      b.dataset.state = s.state;
      b.dataset.mine = mine;
      seatContent(b, s);
      // Seats of others cannot be chosen; the visitor's own stay focusable
      // so they can be found from the map.
      b.disabled = !s.mine && s.state !== 'available';
    }
    if (s.state === 'available') available++;
  }
  ui.mapEmpty.hidden = seats.length > 0;
  ui.mapSummary.textContent = seats.length ? t('booking.summary', { available, n: seats.length }) : '';
}

// seatContent names a seat button by its content: the number it shows and,
// for screen readers only, the rest ("Seat A" … ": held for you"). No
// aria-label, so the visible text is part of the name (WCAG 2.5.3).
function seatContent(b, s) {
  const shown = b.dataset.shown;
  const hidden = (text) => {
    const el = document.createElement('span');
    el.className = 'visually-hidden';
    el.textContent = text;
    return el;
  };
  const seat = document.createDocumentFragment();
  seat.append(hidden(s.seat.slice(0, s.seat.length - shown.length)), shown);
  const parts = nodes('booking.seatLabel', { seat, state: describe(s) });
  b.replaceChildren(...parts.map((p) => (typeof p === 'string' ? hidden(p) : p)));
  b.title = t('booking.seatLabel', { seat: s.seat, state: describe(s) });
}

function describe(s) {
  if (s.mine) return t(s.state === 'booked' ? 'booking.state.bookedMine' : 'booking.state.heldMine');
  if (s.state === 'available') return t('booking.state.available');
  return t(s.state === 'booked' ? 'booking.state.booked' : 'booking.state.heldOther');
}

// buildMap lays the seats out in rows: consecutive seats whose ids start
// with the same letters (A1, A2, … then B1, …) share a row.
function buildMap(seats, key) {
  state.mapKey = key;
  state.buttons.clear();
  const frag = document.createDocumentFragment();
  let rowEl = null;
  let rowName = null;
  for (const s of seats) {
    const m = /^([A-Za-z]+)-?(.*)$/.exec(s.seat);
    const name = m && m[2] ? m[1] : '';
    if (rowEl === null || name !== rowName) {
      rowName = name;
      rowEl = document.createElement('div');
      rowEl.className = 'seat-row';
      if (name) {
        const label = document.createElement('span');
        label.className = 'row-label';
        label.textContent = name;
        label.setAttribute('aria-hidden', 'true');
        rowEl.appendChild(label);
      }
      frag.appendChild(rowEl);
    }
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'seat';
    b.dataset.seat = s.seat;
    b.dataset.state = '';
    b.dataset.shown = name ? m[2] : s.seat;
    b.textContent = b.dataset.shown;
    rowEl.appendChild(b);
    state.buttons.set(s.seat, b);
  }
  ui.seatmap.replaceChildren(frag);
}

function renderBasket() {
  ui.holds.replaceChildren(
    ...state.holds.map((h) => {
      const li = basketItem(h.seat, t('booking.seat', { seat: h.seat }));
      const left = document.createElement('span');
      left.className = 'hold-left muted';
      left.dataset.ends = String(h.ends);
      left.setAttribute('role', 'timer');
      const row = document.createElement('div');
      row.className = 'button-row';
      row.append(
        actionButton(t('booking.confirm'), 'book', h.seat, 'button'),
        actionButton(t('booking.release'), 'release', h.seat, 'button button-secondary'),
      );
      li.append(left, row);
      return li;
    }),
  );
  ui.holdsEmpty.hidden = state.holds.length > 0;

  ui.bookings.replaceChildren(
    ...state.bookings.map((b) => {
      const li = basketItem(b.seat, t('booking.seat', { seat: b.seat }) + ' ✓');
      const ref = document.createElement('span');
      ref.className = 'muted';
      const code = document.createElement('code');
      code.textContent = b.booking_id;
      ref.replaceChildren(...nodes('booking.reference', { ref: code }));
      li.append(ref, actionButton(t('booking.cancel'), 'cancel', b.seat, 'button button-secondary'));
      return li;
    }),
  );
  ui.bookingsEmpty.hidden = state.bookings.length > 0;
}

// basketItem is the basket's <li> of one seat, its name (label) first.
function basketItem(seat, label) {
  const li = document.createElement('li');
  li.className = 'basket-item';
  li.dataset.seat = seat;
  const name = document.createElement('span');
  name.className = 'basket-seat';
  name.textContent = label;
  li.append(name);
  return li;
}

function actionButton(text, action, seat, cls) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  b.dataset.action = action;
  b.dataset.seat = seat;
  b.setAttribute('aria-label', t('booking.actionLabel', { action: text, seat }));
  return b;
}

// ---- Timers ----------------------------------------------------------------

function tick() {
  if (state.over) return;
  const now = serverNow();
  if (Number.isFinite(state.admissionEnds)) {
    const left = state.admissionEnds - now;
    ui.admission.hidden = false;
    ui.admissionLeft.textContent = fmt.clock(left);
    ui.admission.classList.toggle('timer-low', left < 60000);
    if (left <= 0) forceRefresh(); // the API will say it is over
  }
  let ended = false;
  for (const el of ui.holds.querySelectorAll('.hold-left')) {
    const left = Number(el.dataset.ends) - now;
    el.textContent = left > 0 ? t('booking.heldFor', { left: fmt.clock(left) }) : t('booking.holdEnded');
    el.classList.toggle('timer-low', left < 60000);
    if (left <= 0) ended = true;
  }
  if (ended) forceRefresh();
}

// forceRefresh polls now when a countdown ran out, at most every 3 s: the
// server's clock decides, and may be a moment behind ours.
function forceRefresh() {
  const now = Date.now();
  if (state.refreshing || now - state.forcedAt < 3000) return;
  state.forcedAt = now;
  schedulePoll(0);
}

// ---- Actions ----------------------------------------------------------------

function onSeatClick(ev) {
  const b = ev.target.closest('button.seat');
  if (!b || b.disabled) return;
  const seat = b.dataset.seat;
  if (b.dataset.mine === 'true') {
    // The visitor's own seat: take them to its entry in the basket.
    const li = document.querySelector(`.basket-item[data-seat="${CSS.escape(seat)}"] button`);
    if (li) li.focus();
    return;
  }
  if (b.dataset.state === 'available') hold(seat);
}

function onBasketClick(ev) {
  const b = ev.target.closest('button[data-action]');
  if (!b) return;
  const seat = b.dataset.seat;
  switch (b.dataset.action) {
    case 'book':
      book(seat);
      break;
    case 'release':
      release(seat, t('booking.released', { seat }));
      break;
    case 'cancel':
      // A booking is worth a second click.
      if (b.dataset.armed !== 'true') {
        b.dataset.armed = 'true';
        b.textContent = t('booking.reallyCancel');
        setTimeout(() => {
          if (b.isConnected) {
            b.dataset.armed = 'false';
            b.textContent = t('booking.cancel');
          }
        }, ARM_MS);
        return;
      }
      release(seat, t('booking.cancelled', { seat }));
      break;
  }
}

// act runs one change at a time and refreshes the page after it.
async function act(fn) {
  if (state.busy || state.over) return;
  state.busy = true;
  document.body.classList.add('busy');
  try {
    const reply = await fn();
    if (reply && authFailed(reply)) return;
  } catch {
    setNotice(t('booking.unreachable'), true);
  } finally {
    state.busy = false;
    document.body.classList.remove('busy');
  }
  if (!state.over) await refresh();
  // After a hold, take the visitor to its Confirm button (below the map
  // on a phone).
  if (state.focusAfter) {
    const el = document.querySelector(state.focusAfter);
    state.focusAfter = '';
    if (el) {
      el.focus({ preventScroll: true });
      el.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    }
  }
}

function hold(seat) {
  return act(async () => {
    const r = await api('POST', apiBase + '/holds', { seat });
    if (r.status === 201 || r.status === 200) {
      setNotice('');
      say(t('booking.heldSay', { seat, time: fmt.timeSeconds(Date.parse(r.data.held_until)) }));
      state.focusAfter = `.basket-item[data-seat="${CSS.escape(seat)}"] button[data-action="book"]`;
    } else if (errorCode(r.data) === 'seat_unavailable') {
      setNotice(t('booking.taken', { seat }));
    } else if (errorCode(r.data) === 'limit_reached') {
      setNotice(t('booking.limit'));
    } else if (!authFailed(r)) {
      setNotice(errorMessage(r));
    }
    return r;
  });
}

function book(seat) {
  return act(async () => {
    const r = await api('POST', apiBase + '/bookings', { seat });
    if (r.status === 201 || r.status === 200) {
      setNotice('');
      say(t('booking.bookedSay', { seat, ref: r.data.booking_id }));
    } else if (errorCode(r.data) === 'hold_required') {
      setNotice(t('booking.holdRequired', { seat }));
    } else if (errorCode(r.data) === 'seat_unavailable') {
      setNotice(t('booking.takenAfterHold', { seat }));
    } else if (!authFailed(r)) {
      setNotice(errorMessage(r));
    }
    return r;
  });
}

function release(seat, done) {
  return act(async () => {
    const r = await api('DELETE', apiBase + '/bookings/' + encodeURIComponent(seat));
    if (r.status === 204) {
      setNotice('');
      say(done);
    } else if (r.status === 404) {
      setNotice(t('booking.notYours', { seat }));
    } else if (!authFailed(r)) {
      setNotice(errorMessage(r));
    }
    return r;
  });
}

async function checkout() {
  if (state.busy || state.over) return;
  state.busy = true;
  ui.checkoutYes.disabled = true;
  let r;
  try {
    r = await api('POST', apiBase + '/checkout');
  } catch {
    setNotice(t('booking.unreachable'), true);
    return;
  } finally {
    state.busy = false;
    ui.checkoutYes.disabled = false;
  }
  if (r.status === 204) {
    finish();
    return;
  }
  if (!authFailed(r)) setNotice(errorMessage(r));
}

// ---- End states ----------------------------------------------------------------

function stop() {
  state.over = true;
  clearTimeout(state.pollTimer);
  clearInterval(state.tickTimer);
  ui.admission.hidden = true;
  // The token is worthless now; drop it so a reload does not retry it.
  storage.remove(tokenKey);
}

function finish() {
  stop();
  setNotice('');
  const n = state.bookings.length;
  ui.doneSummary.textContent = n === 0 ? t('booking.doneNone') : t('booking.doneSome', { n });
  ui.doneBookings.replaceChildren(
    ...state.bookings.map((b) => {
      const li = document.createElement('li');
      li.className = 'done-item';
      const code = document.createElement('code');
      code.textContent = b.booking_id;
      li.replaceChildren(...nodes('booking.doneItem', { seat: b.seat, ref: code }));
      return li;
    }),
  );
  showView('done');
  ui.heading.textContent = t('booking.thanks');
  document.title = t('booking.thanks');
  say(ui.doneSummary.textContent);
}

function showEnded(reason) {
  stop();
  setNotice('');
  const known = ['admission_ended', 'wrong_room', 'no_token', 'no_room'];
  const key = known.includes(reason) ? reason : 'invalid';
  const title = t(`booking.ended.${key}.title`);
  const msg = t(`booking.ended.${key}.message`);
  ui.endedTitle.textContent = title;
  ui.endedMessage.textContent = msg;
  ui.heading.textContent = t('booking.closedHeading');
  document.title = t('booking.closedHeading');
  showView('ended');
  say(title + '. ' + msg);
}

// ---- Helpers ----------------------------------------------------------------

function showView(name) {
  for (const [k, el] of Object.entries(ui.views)) el.hidden = k !== name;
}

function setNotice(text, connection = false) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
  ui.notice.dataset.kind = connection ? 'connection' : '';
}

// say puts text in the live region.
const say = announcer(ui.announcer, 50);

// takeEntryToken moves a token handed over in the fragment into this
// tab's storage (a reload keeps it; no request ever carries it but ours)
// and returns the tab's token, if any.
function takeEntryToken() {
  const m = /(?:^#|&)wr_entry=([^&]+)/.exec(location.hash);
  if (m) {
    try {
      storage.set(tokenKey, decodeURIComponent(m[1]));
    } catch {
      // A broken fragment: whatever the tab had stays.
    }
    history.replaceState(null, '', location.pathname + location.search);
  }
  return storage.get(tokenKey);
}

// tokenExpiry reads exp from the token's payload, for the countdown only:
// the booking API checks the token, this page trusts nothing in it.
function tokenExpiry(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
    return typeof json.exp === 'number' ? json.exp * 1000 : NaN;
  } catch {
    return NaN;
  }
}

// ---- Start ----------------------------------------------------------------
// Last, so every const above is initialised before use.

start();

function start() {
  translate();
  document.title = t('booking.heading');
  ui.backToLine.href = lineUrl;
  ui.doneBack.href = lineUrl;
  if (!room) {
    languageSwitch(ui.langSwitch);
    showEnded('no_room');
    return;
  }
  ui.roomLabel.textContent = t('booking.eyebrow', { room });
  state.token = takeEntryToken();
  languageSwitch(ui.langSwitch); // after the token left the address bar
  if (!state.token) {
    showEnded('no_token');
    return;
  }
  state.admissionEnds = tokenExpiry(state.token);

  ui.seatmap.addEventListener('click', onSeatClick);
  ui.holds.addEventListener('click', onBasketClick);
  ui.bookings.addEventListener('click', onBasketClick);
  ui.checkout.addEventListener('click', () => {
    ui.checkoutConfirm.hidden = false;
    ui.checkout.hidden = true;
    ui.checkoutYes.focus();
  });
  ui.checkoutNo.addEventListener('click', () => {
    ui.checkoutConfirm.hidden = true;
    ui.checkout.hidden = false;
    ui.checkout.focus();
  });
  ui.checkoutYes.addEventListener('click', checkout);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !state.over) schedulePoll(0);
  });

  state.tickTimer = setInterval(tick, 1000);
  schedulePoll(0);
}
