/*
 * room.js: the waiting page, served at /rooms/{room}.
 *
 * Flow: join (POST /api/rooms/{room}/tickets), show the ticket status, then
 * follow it live over a WebSocket. On "admitted", go to the target with the
 * entry token in the URL's fragment, which no server and no Referer ever
 * sees; the booking page moves it into its tab's sessionStorage at once.
 *
 * A protected site that knows its visitor links here with ?user_token=…
 * (see docs/API.md, Visitor identity): the page takes it out of the address
 * bar at once and sends it with the join. A room that asks for proof of work
 * answers the join with 403 pow_required: the page then loads pow.js, solves
 * the room's puzzle and joins again with the solution.
 *
 * When the socket cannot connect or drops, the page polls the ticket status
 * until the socket is back. A visitor behind a proxy that blocks WebSockets
 * still moves up and gets in, and still counts as present, so the server
 * does not give the place away as abandoned.
 *
 * While in line the visitor may ask to be called when it is their turn
 * (the Notification API, asked only when pressed). Admitted while the tab
 * is hidden, the page changes the tab's title (always), shows a
 * notification and plays a short Web Audio chime (only when asked), and
 * waits for the visitor to come back before it goes on to the booking page.
 *
 * Every word comes from static/i18n/<lang>.js through lib/i18n.js; the
 * room's own title and message (GET /api/rooms/{room}) are shown as text.
 *
 * No framework and no build step: ES modules, shared ones in lib/. The page
 * must run under "default-src 'self'; connect-src 'self' ws://<host>
 * wss://<host>": its socket goes back to the host it came from, and nothing
 * here uses inline handlers, eval or style attributes. Element.style set
 * from script is CSSOM, which that policy allows. Every URL comes from
 * lib/base.js, so the page works under a path prefix too.
 */
import { announcer } from './lib/announce.js';
import { errorCode, errorMessage, request, retryAfterMs, serverNow } from './lib/api.js';
import { root, roomIn, socketFor, urlFor } from './lib/base.js';
import { showConn } from './lib/conn.js';
import { fmt, languageSwitch, lang, nodes, t, translate } from './lib/i18n.js';
import { tabStorage as storage } from './lib/storage.js';

// ---- Tunables -----------------------------------------------------------

const POLL_MIN_MS = 3000; // status polling while the socket is down: every 3–5 s,
const POLL_MAX_MS = 5000; // well inside the server's abandon_after_s (default 120 s)
const BACKOFF_BASE_MS = 1000; // reconnect and join retries: 1 s, doubling…
const BACKOFF_MAX_MS = 30000; // …up to 30 s
const STABLE_SOCKET_MS = 10000; // a socket that stayed up this long resets the backoff
const ANNOUNCE_EVERY_MS = 10000; // screen readers hear the position at most this often…
const ANNOUNCE_MIN_GAP_MS = 3000; // …or sooner on a large jump, but never closer than this
const ADMITTED_PAUSE_MS = 1500; // how long "You're in!" shows before the redirect
const POLLING_LABEL_AFTER = 3; // failed reconnects before the indicator says "polling"
const CLOSE_REPLACED = 4000; // server's close code: a newer socket for this ticket took over
const POW_SOLVES = 2; // puzzles solved per join before giving up: pow_required, then pow_invalid once
const ROOM_INFO_MS = 30000; // the room's title, message and admission rate, re-read this often while waiting
const AGE_TICK_MS = 1000; // the "last update" age, while the socket is down
const DROP_SAY_AFTER_MS = 5000; // a drop is announced to screen readers only once it lasts this long

// ---- Elements -----------------------------------------------------------

const byId = (id) => document.getElementById(id);
const ui = {
  roomTitle: byId('room-title'),
  roomMessage: byId('room-message'),
  langSwitch: byId('lang-switch'),
  heading: byId('heading'),
  conn: byId('conn'),
  connText: byId('conn-text'),
  connAge: byId('conn-age'),
  notice: byId('notice'),
  views: {
    loading: byId('view-loading'),
    checking: byId('view-checking'),
    waiting: byId('view-waiting'),
    prequeue: byId('view-prequeue'),
    admitted: byId('view-admitted'),
    ended: byId('view-ended'),
  },
  position: byId('position'),
  ahead: byId('ahead'),
  progress: byId('progress'),
  progressFill: byId('progress-fill'),
  eta: byId('eta'),
  etaClock: byId('eta-clock'),
  rate: byId('rate'),
  rateNote: byId('rate-note'),
  waiting: byId('waiting'),
  opensLine: byId('opens-line'),
  opensAt: byId('opens-at'),
  countdown: byId('countdown'),
  prequeueExplain: byId('prequeue-explain'),
  prequeueWaiting: byId('prequeue-waiting'),
  admittedLead: byId('admitted-lead'),
  continueLink: byId('continue'),
  endedMessage: byId('ended-message'),
  endedDetail: byId('ended-detail'),
  rejoin: byId('rejoin'),
  announcer: byId('announcer'),
  checkProgress: byId('check-progress'),
  checkFill: byId('check-fill'),
  checkPercent: byId('check-percent'),
  turnTools: byId('turn-tools'),
  notify: byId('notify'),
  notifyStatus: byId('notify-status'),
  leave: byId('leave'),
  leaveConfirm: byId('leave-confirm'),
  leaveYes: byId('leave-yes'),
  leaveNo: byId('leave-no'),
  leaveStatus: byId('leave-status'),
};

// ---- State --------------------------------------------------------------

const room = roomIn('rooms');
const apiBase = 'api/rooms/' + room;
const userTokenKey = 'wr_user_token_' + room;
const notifyKey = 'wr_notify_' + room; // "1": the visitor asked to be called

// The room's own words and pace, from GET /api/rooms/{room}.
const info = { title: '', message: '', rate: null, timer: 0 };

// Everything about the current ticket. `gen` goes up on every (re)join, so
// replies and timers that belong to an older ticket can tell and do nothing.
const session = {
  gen: 0,
  ticket: null,
  done: false, // admitted, expired or closed: no more reconnects or polling
  view: 'loading',
  ws: null,
  wsAttempts: 0, // reconnects since the last stable socket, for the backoff
  reconnectTimer: 0,
  polling: false,
  pollTimer: 0,
  opensAt: null, // the opens_at the countdown is running for
  countdownTimer: 0,
  // The socket was closed with CLOSE_REPLACED: this page is open in another
  // tab too. Stay on polling until this tab is looked at again.
  replaced: false,
  lastUpdate: 0, // Date.now() of the last status or message from the server
  lostAt: 0, // when the socket went down, 0 while live
  ageTimer: 0,
  last: null, // the last waiting message, to redraw it when the rate changes
  target: '', // where an admitted visitor goes once the tab is looked at
};

// ---- Joining ------------------------------------------------------------

// join asks for a place in line. The server recognises the HttpOnly cookie
// wr_<room>, so a reload or a second tab gets the same ticket and place;
// after an expiry the same call gets a new ticket at the back of the line.
// `notice`, if given, stays on screen to explain why we (re)joined.
async function join(notice = '') {
  stopLive();
  const gen = ++session.gen;
  session.ticket = null;
  session.done = false;
  session.replaced = false;
  session.target = '';
  if (!info.timer) info.timer = setTimeout(loadRoomInfo, ROOM_INFO_MS);
  showView('loading', t('room.heading.joining'));
  setConn('connecting');
  setNotice(notice);
  if (notice) say(notice);

  let body = {}; // gets {pow} once a puzzle is solved; retries resend it
  let solves = 0;
  for (let attempt = 0; ;) {
    let reply = null;
    try {
      reply = await request('POST', apiBase + '/tickets', { body: { ...joinBody(), ...body } });
    } catch {
      // Network error or timeout: retried below like a 503.
    }
    if (gen !== session.gen) return;

    if (reply && (reply.status === 200 || reply.status === 201) && isTicketStatus(reply.data)) {
      storage.remove(userTokenKey); // spent: the ticket cookie keeps the place from now on
      setNotice(notice);
      begin(reply.data);
      return;
    }

    const status = reply ? reply.status : 0;
    if (status === 401) {
      // user_required or invalid_user_token: only the site can vouch for
      // the visitor, so the way back is through the site's own link.
      storage.remove(userTokenKey);
      finish(ended('signin'));
      return;
    }
    const code = reply ? errorCode(reply.data) : '';
    if (status === 403 && (code === 'pow_required' || code === 'pow_invalid')) {
      if (solves >= POW_SOLVES) {
        finish(ended('powRefused', { button: 'room.tryAgain' }));
        return;
      }
      solves++;
      const payload = await proveWork(gen, notice);
      if (payload === null) return; // stale, or proveWork has said why it stopped
      body = { pow: payload };
      continue;
    }
    if (status === 403) {
      // Only room_closed is expected here: the sale is over.
      finish(ended('closed'));
      return;
    }
    if (status === 404) {
      finish(ended('notFound'));
      return;
    }
    if (status === 429) {
      await waitWithCountdown(retryAfterMs(reply.retryAfter), gen, (s) => t('retry.busy', { n: s }));
    } else if (status === 0 || status === 408 || status >= 500) {
      await waitWithCountdown(backoffMs(attempt++), gen,
        (s) => t(navigator.onLine === false ? 'retry.offline' : 'retry.unreachable', { n: s }));
    } else {
      finish(ended('error', { detail: errorMessage(reply.data), button: 'room.tryAgain' }));
      return;
    }
    if (gen !== session.gen) return;
  }
}

// joinBody carries the user token the site linked us with, if any.
function joinBody() {
  const token = storage.get(userTokenKey);
  return token ? { user_token: token } : {};
}

// takeUserToken moves ?user_token=… out of the address bar (so it is not
// bookmarked, shared or kept in history) into this tab's storage until a
// join has used it.
function takeUserToken() {
  const params = new URLSearchParams(location.search);
  const token = params.get('user_token');
  if (token === null) return;
  params.delete('user_token');
  const rest = params.toString();
  history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  if (token) storage.set(userTokenKey, token);
}

// begin takes the join answer: show it, then follow it live.
function begin(status) {
  session.ticket = status.ticket;
  session.wsAttempts = 0;
  apply(status);
  if (!session.done) connectSocket();
}

// ---- Proof of work ---------------------------------------------------------

// proveWork gets the room's puzzle and solves it in a worker (pow.js),
// showing progress. It resolves to the payload for the join body, or to
// null when this join is stale or has ended on screen (it says why).
async function proveWork(gen, notice) {
  showView('checking', t('room.heading.checking'));
  setCheckProgress(0);
  say(t('room.checking.say'));

  let challenge = null;
  for (let attempt = 0; !challenge;) {
    let reply = null;
    try {
      reply = await request('GET', apiBase + '/challenge');
    } catch {
      // Network error or timeout: retried below like a 503.
    }
    if (gen !== session.gen) return null;
    const status = reply ? reply.status : 0;
    if (status === 200 && reply.data) {
      challenge = reply.data;
    } else if (status === 429) {
      await waitWithCountdown(retryAfterMs(reply.retryAfter), gen, (s) => t('retry.busy', { n: s }));
    } else if (status === 0 || status === 408 || status >= 500) {
      await waitWithCountdown(backoffMs(attempt++), gen, (s) => t('retry.unreachable', { n: s }));
    } else if (status === 404) {
      finish(ended('notFound'));
      return null;
    } else {
      finish(ended('error', { detail: errorMessage(reply.data), button: 'room.tryAgain' }));
      return null;
    }
    if (gen !== session.gen) return null;
  }
  setNotice(notice);

  // Loaded only now: most rooms ask for no work.
  let pow = null;
  try {
    pow = await import('./pow.js');
  } catch {
    // Said below.
  }
  if (gen !== session.gen) return null;
  if (!pow || typeof pow.solve !== 'function') {
    finish(ended('powLoad', { button: 'room.tryAgain' }));
    return null;
  }
  const stop = new AbortController();
  try {
    const payload = await pow.solve(challenge, (fraction) => {
      if (gen !== session.gen) stop.abort();
      else setCheckProgress(Math.floor(fraction * 100));
    }, stop.signal);
    if (gen !== session.gen) return null;
    showView('loading', t('room.heading.joining'));
    say(t('room.checking.done'));
    return payload;
  } catch (err) {
    if (gen !== session.gen) return null;
    if (err && err.code === 'unsupported') {
      finish(ended('powUnsupported', { button: 'room.tryAgain' }));
    } else {
      finish(ended('powFailed', { detail: (err && err.message) || '', button: 'room.tryAgain' }));
    }
    return null;
  }
}

// setCheckProgress shows how much of the puzzle's range has been tried.
// The bar is not a live region; the start and the end are announced.
function setCheckProgress(percent) {
  ui.checkProgress.setAttribute('aria-valuenow', String(percent));
  ui.checkProgress.setAttribute('aria-valuetext', `${percent}%`);
  ui.checkFill.style.width = percent + '%';
  ui.checkPercent.textContent = percent + '%';
}

// ---- Live updates: WebSocket ----------------------------------------------

function connectSocket() {
  if (session.done || !session.ticket) return;
  clearTimeout(session.reconnectTimer);
  dropSocket();

  const url = socketFor(apiBase + '/ws?ticket=' + encodeURIComponent(session.ticket));
  let ws;
  try {
    ws = new WebSocket(url);
  } catch {
    socketLost(0, 0);
    return;
  }
  session.ws = ws;
  let openedAt = 0;

  ws.addEventListener('open', () => {
    if (session.ws !== ws) return;
    openedAt = Date.now();
    socketBack();
    stopPolling(); // the socket carries every change from now on
  });
  ws.addEventListener('message', (event) => {
    if (session.ws !== ws) return;
    apply(parseJSON(event.data));
  });
  ws.addEventListener('close', (event) => {
    // A socket we closed on purpose, or one replaced by a newer one, has
    // already been detached from the session: its close means nothing.
    if (session.ws !== ws) return;
    session.ws = null;
    socketLost(event.code, openedAt ? Date.now() - openedAt : 0);
  });
  // No 'error' handler: every error is followed by 'close'.
}

// socketLost runs when the socket failed to open or dropped without an
// "expired" or "admitted" first. Poll meanwhile, and reconnect.
function socketLost(code, livedMs) {
  if (session.done) return;
  if (livedMs >= STABLE_SOCKET_MS) session.wsAttempts = 0;
  startPolling();
  socketDown();

  if (code === CLOSE_REPLACED) {
    // The same ticket opened a newer socket, in another tab. Reconnecting
    // here would close that one, which would reconnect and close ours, and
    // so on forever. So this tab only polls the status (every 3–5 s): it
    // still shows the place, still counts as present and still gets
    // admitted. It takes the socket back only when the visitor comes back
    // to it (visibilitychange, below), since then it is the tab in use.
    session.replaced = true;
    clearTimeout(session.reconnectTimer);
    setConn('polling');
    return;
  }

  let delay;
  if (code === 1001 && livedMs >= 2000) {
    // Going away: the server is restarting. Come back soon, but spread out
    // so a crowd of visitors does not hit the new process at the same instant.
    delay = 200 + Math.random() * 1000;
  } else {
    // Sockets that die young (blocked by a proxy, or two tabs taking turns
    // replacing each other's socket) back off towards 30 s.
    delay = backoffMs(session.wsAttempts++);
  }
  setConn(session.wsAttempts >= POLLING_LABEL_AFTER ? 'polling' : 'reconnecting');
  clearTimeout(session.reconnectTimer);
  session.reconnectTimer = setTimeout(connectSocket, delay);
}

function reconnectNow() {
  if (session.done || !session.ticket || session.ws || session.replaced) return;
  connectSocket();
}

// dropSocket closes the current socket quietly: detached first, so its
// close event does not count as a drop.
function dropSocket() {
  const ws = session.ws;
  session.ws = null;
  if (ws) ws.close(1000);
}

// ---- Live updates: polling fallback ---------------------------------------

function startPolling() {
  if (session.polling || session.done) return;
  session.polling = true;
  schedulePoll(pollDelayMs());
}

function stopPolling() {
  session.polling = false;
  clearTimeout(session.pollTimer);
}

function schedulePoll(ms) {
  clearTimeout(session.pollTimer);
  session.pollTimer = setTimeout(pollOnce, ms);
}

async function pollOnce() {
  const gen = session.gen;
  let reply = null;
  try {
    reply = await request('GET', apiBase + '/tickets/' + encodeURIComponent(session.ticket));
  } catch {
    // Network trouble: try again at the usual pace.
  }
  // The socket may have come back, or the visitor rejoined, meanwhile.
  if (gen !== session.gen || !session.polling || session.done) return;

  if (reply && reply.status === 200) {
    apply(reply.data);
  } else if (reply && reply.status === 404) {
    if (errorCode(reply.data) === 'room_not_found') {
      finish(ended('room_deleted'));
    } else {
      // ticket_not_found: the place is gone (away too long, or left from
      // elsewhere). Get a new one rather than leave the visitor stranded.
      join(t('room.lostPlace'));
    }
    return;
  } else if (reply && reply.status === 429) {
    schedulePoll(retryAfterMs(reply.retryAfter));
    return;
  }
  if (session.polling && !session.done) schedulePoll(pollDelayMs());
}

// ---- Applying updates -----------------------------------------------------

// apply takes a ticket status (from joining or polling, keyed by "state")
// or a socket message (keyed by "type"); both carry the same fields.
function apply(msg) {
  if (session.done || !msg || typeof msg !== 'object') return;
  session.lastUpdate = Date.now();
  showAge();
  switch (msg.type || msg.state) {
    case 'position':
    case 'waiting':
      showWaiting(msg);
      break;
    case 'prequeue':
      showPrequeue(msg);
      break;
    case 'admitted':
      admit(msg);
      break;
    case 'expired':
      finish(ended(msg.reason));
      break;
    default:
      // A message from a newer server that this page does not know: ignore.
  }
}

function showWaiting(msg) {
  const position = Number(msg.position);
  if (!Number.isFinite(position) || position < 1) return;
  const ahead = Number.isFinite(Number(msg.ahead)) ? Number(msg.ahead) : position - 1;
  session.last = msg;

  showView('waiting', t('room.heading.waiting'));
  ui.position.textContent = fmt.int(position);
  ui.ahead.textContent = ahead === 0 ? t('room.ahead.none', { n: 0 }) : t('room.ahead', { n: ahead });
  ui.waiting.textContent = msg.waiting == null ? '–' : fmt.int(msg.waiting);
  const seconds = etaSeconds(msg.eta_seconds);
  ui.eta.textContent = seconds === null ? t('eta.calculating') : formatEta(seconds);
  // The moment, on the visitor's own clock and in their time zone.
  ui.etaClock.textContent = seconds === null ? '–' : t('eta.around', { time: fmt.time(Date.now() + seconds * 1000) });
  showRate(ahead, seconds);
  setProgress(progressPercent(firstPosition(position), position));
  document.title = t('title.waiting', { n: position, room: roomName() });

  const etaSentence = seconds === null ? '' : ' ' + t('say.eta', { wait: formatEta(seconds) });
  announcePosition(position, position === 1
    ? t('say.next')
    : t('say.position', { n: position, ahead }) + etaSentence);
}

// showRate says how fast the line moves: the room's admissions of the last
// minute (GET /api/rooms/{room}), else what the server's estimate implies
// for this position. Nothing is made up when neither is known.
function showRate(ahead, seconds) {
  let rate = info.rate;
  let note = 'rate.measured';
  if (rate === null && seconds !== null && seconds > 0 && ahead > 0) {
    rate = (ahead / seconds) * 60;
    note = 'rate.fromEta';
  }
  if (rate === null) {
    ui.rate.textContent = '–';
    ui.rateNote.textContent = '';
    return;
  }
  ui.rate.textContent = t('rate.perMinute', { n: Math.round(rate) });
  ui.rateNote.textContent = rate > 0 ? t(note) : t('rate.stopped');
}

function showPrequeue(msg) {
  const entering = session.view !== 'prequeue';
  showView('prequeue', t('room.heading.prequeue'));
  document.title = t('title.prequeue', { room: roomName() });
  ui.prequeueWaiting.textContent = msg.waiting == null ? '' : t('room.prequeue.waiting', { n: Number(msg.waiting) });
  const strong = document.createElement('strong');
  strong.textContent = t('room.prequeue.random');
  ui.prequeueExplain.replaceChildren(...nodes('room.prequeue.explain', { random: strong }));

  const opensAt = Date.parse(msg.opens_at);
  if (Number.isNaN(opensAt)) {
    ui.opensLine.textContent = t('room.prequeue.opensSoon');
    ui.countdown.hidden = true;
    stopCountdown();
  } else if (session.opensAt !== opensAt || !session.countdownTimer) {
    ui.opensAt.dateTime = msg.opens_at;
    ui.opensAt.textContent = fmt.dateTime(opensAt, 'full');
    ui.opensLine.replaceChildren(...nodes('room.prequeue.opensAt', { time: ui.opensAt }));
    ui.countdown.hidden = false;
    startCountdown(opensAt);
  }
  if (entering) say(`${ui.opensLine.textContent} ${t('say.prequeue')}`);
}

function startCountdown(opensAt) {
  stopCountdown();
  session.opensAt = opensAt;
  const tick = () => {
    const left = opensAt - serverNow();
    ui.countdown.textContent = left > 0 ? t('room.prequeue.countdown', { left: fmt.countdown(left) }) : t('room.prequeue.opening');
  };
  tick();
  session.countdownTimer = setInterval(tick, 1000);
}

function stopCountdown() {
  clearInterval(session.countdownTimer);
  session.countdownTimer = 0;
  session.opensAt = null;
}

// admit says it is the visitor's turn and goes on to the target with the
// entry token. In a hidden tab it calls the visitor (the tab's title
// always; a notification and a chime when they asked) and waits for them
// to look: the target counts a visit as arrival, and the visitor should
// see the booking page's clock from its start.
function admit(msg) {
  session.done = true;
  stopLive();
  forgetFirstPosition();
  if (onProtectedHost()) {
    enterHost(msg).then((target) => admitTo(target || withEntryToken(safeTarget(msg.target_url), msg.entry_token)));
    return;
  }
  admitTo(withEntryToken(safeTarget(msg.target_url), msg.entry_token));
}

function admitTo(target) {
  session.target = target;
  ui.continueLink.href = target;
  setNotice('');
  setConn(null);
  showView('admitted', t('room.heading.admitted'));
  if (document.visibilityState === 'hidden') {
    ui.admittedLead.textContent = t('room.admitted.hidden');
    document.title = t('title.turn', { room: roomName() });
    say(t('room.admitted.hidden'));
    callVisitor();
    return;
  }
  goOn();
}

// goOn leaves for the target after a short pause that shows "You're in!".
function goOn() {
  if (!session.target) return;
  const target = session.target;
  session.target = '';
  ui.admittedLead.textContent = t('room.admitted.lead');
  document.title = t('title.admitted', { room: roomName() });
  say(t('room.admitted.say'));
  setTimeout(() => location.assign(target), ADMITTED_PAUSE_MS);
}

// finish shows a final state: expired, closed, not found, or an error.
// Without a button the rejoin button is hidden, for states where joining
// again cannot help.
function finish({ heading, message, detail = '', button = '' }) {
  session.done = true;
  stopLive();
  forgetFirstPosition();
  setNotice('');
  setConn(null);
  showView('ended', heading);
  document.title = t('title.ended', { heading, room: roomName() });
  ui.endedMessage.textContent = message;
  ui.endedDetail.textContent = detail;
  ui.endedDetail.hidden = !detail;
  ui.rejoin.hidden = !button;
  if (button) ui.rejoin.textContent = button;
  say(`${heading}. ${message}`);
}

// ENDINGS: each final state's words (keys ended.<name>.heading, .message,
// .detail under i18n) and whether joining again makes sense. The reasons
// of the socket's "expired" are here too, by their names in docs/API.md.
const ENDINGS = {
  left: { detail: true, rejoin: true },
  left_here: { detail: true, rejoin: true },
  abandoned: { detail: true, rejoin: true },
  no_show: { detail: true, rejoin: true },
  admission_ended: { detail: true, rejoin: true },
  room_deleted: {},
  unknown: { detail: true, rejoin: true },
  signin: {},
  powRefused: {},
  closed: {},
  notFound: {},
  badLink: {},
  error: {},
  powLoad: {},
  powUnsupported: { detail: true },
  powFailed: {},
};

// ended is the words of a final state; `detail` (the server's or the
// browser's own words) and `button` (a message key) override the table's.
function ended(name, { detail, button } = {}) {
  const key = Object.hasOwn(ENDINGS, name) ? name : 'unknown';
  const e = ENDINGS[key];
  return {
    heading: t(`ended.${key}.heading`),
    message: t(`ended.${key}.message`),
    detail: detail || (e.detail ? t(`ended.${key}.detail`) : ''),
    button: button ? t(button) : e.rejoin ? t('room.rejoin') : '',
  };
}

// stopLive ends the socket, reconnects, polling and the countdown.
function stopLive() {
  clearTimeout(session.reconnectTimer);
  stopPolling();
  dropSocket();
  stopCountdown();
  clearInterval(session.ageTimer);
  session.lostAt = 0;
  session.dropSaid = false;
  showAge();
}

// ---- Entry token and redirect ---------------------------------------------

// onProtectedHost says whether waitroom lives under a prefix of the site's
// own host (gateway mode, or the site's proxy doing forward auth): then the
// entry is a cookie of that host, and the visitor goes back where they were.
function onProtectedHost() {
  return root.pathname !== '/';
}

// enterHost has the server set the entry cookie on this host, and resolves
// to the ?return= address (a path of this host) to go back to, or '' to
// fall back to the room's target.
async function enterHost(msg) {
  let ok = false;
  try {
    const res = await request('POST', `api/rooms/${encodeURIComponent(room)}/entry`, { body: { entry_token: msg.entry_token } });
    ok = res.status === 204;
  } catch {
    // The gateway would send the visitor back here: the target still works.
  }
  return ok ? sameOriginReturn(new URLSearchParams(location.search).get('return')) : '';
}

// sameOriginReturn is ret as an address on this host, or '' for anything
// else (another origin, "//host", "/\host", blanks a browser would drop).
function sameOriginReturn(ret) {
  if (typeof ret !== 'string' || !ret.startsWith('/') || ret.startsWith('//') || /[\\\s\u0000-\u001f\u007f]/.test(ret)) return '';
  try {
    const u = new URL(ret, location.origin);
    return u.origin === location.origin ? u.href : '';
  } catch {
    return '';
  }
}

// withEntryToken hands the entry token to the target in the URL's
// fragment: never sent to a server, never in a Referer, and no cookie that
// every request to the site would carry. The booking page (or the site's
// own page) reads it from there.
function withEntryToken(target, token) {
  if (typeof token !== 'string' || !token) return target;
  const u = new URL(target);
  u.hash = 'wr_entry=' + encodeURIComponent(token);
  return u.href;
}

// safeTarget only lets the page navigate to http(s) URLs, never to a
// javascript: or data: URL, whatever the room config says.
function safeTarget(url) {
  if (typeof url === 'string' && url) {
    try {
      const u = new URL(url, location.href);
      if (u.protocol === 'https:' || u.protocol === 'http:') return u.href;
    } catch {
      // Not a URL: fall back below.
    }
  }
  return urlFor('booking/' + room);
}

// ---- Progress ---------------------------------------------------------------

// The first position seen for this ticket, kept per tab in sessionStorage
// so progress survives a reload. A later, larger position (only possible
// when the ticket is new to this tab) starts the measure again.
function firstPosition(position) {
  const key = firstPositionKey();
  const stored = Number(storage.get(key));
  if (Number.isFinite(stored) && stored >= position) return stored;
  storage.set(key, String(position));
  return position;
}

function forgetFirstPosition() {
  if (session.ticket) storage.remove(firstPositionKey());
}

function firstPositionKey() {
  return `wr_first_${room}_${session.ticket}`;
}

// How far the visitor has moved from the first position toward position 1.
function progressPercent(first, position) {
  if (first <= 1) return 100;
  return Math.min(100, Math.max(0, Math.round(((first - position) / (first - 1)) * 100)));
}

function setProgress(percent) {
  ui.progress.setAttribute('aria-valuenow', String(percent));
  ui.progress.setAttribute('aria-valuetext', t('room.waiting.progressValue', { n: percent }));
  ui.progressFill.style.width = percent + '%';
}

// ---- Screen-reader announcements --------------------------------------------

// Position changes reach screen readers through one polite live region, at
// most every ANNOUNCE_EVERY_MS (a busy line moves every second and would
// never stop talking), or sooner when the position jumps a lot. The latest
// position waits for the next slot rather than getting lost.
const spoken = { at: 0, position: null, pending: null, timer: 0 };

function announcePosition(position, text) {
  if (position === spoken.position) {
    spoken.pending = null;
    return;
  }
  const since = Date.now() - spoken.at;
  const big = spoken.position === null || position === 1 ||
    Math.abs(position - spoken.position) >= Math.max(10, spoken.position * 0.2);
  if (since >= ANNOUNCE_EVERY_MS || (big && since >= ANNOUNCE_MIN_GAP_MS) || spoken.position === null) {
    sayPosition(position, text);
    return;
  }
  spoken.pending = { position, text };
  if (!spoken.timer) {
    const wait = (big ? ANNOUNCE_MIN_GAP_MS : ANNOUNCE_EVERY_MS) - since;
    spoken.timer = setTimeout(() => {
      spoken.timer = 0;
      const p = spoken.pending;
      if (p && session.view === 'waiting') sayPosition(p.position, p.text);
    }, wait);
  }
}

function sayPosition(position, text) {
  clearTimeout(spoken.timer);
  spoken.timer = 0;
  spoken.pending = null;
  spoken.position = position;
  spoken.at = Date.now();
  say(text);
}

// say puts text in the live region.
const say = announcer(ui.announcer);

// ---- View helpers -------------------------------------------------------------

function showView(name, heading) {
  for (const [key, el] of Object.entries(ui.views)) el.hidden = key !== name;
  ui.heading.textContent = heading;
  ui.turnTools.hidden = name !== 'waiting' && name !== 'prequeue';
  if (ui.turnTools.hidden) closeLeave();
  if (session.view !== name) {
    session.view = name;
    // A new state speaks for itself first; the next position is news.
    spoken.position = null;
    spoken.pending = null;
    if (name !== 'prequeue') stopCountdown();
  }
}

// setConn updates the connection indicator ('connecting', 'live',
// 'reconnecting', 'polling'); null hides it.
function setConn(state) {
  showConn(ui.conn, ui.connText, state, state ? t('conn.' + state) : '');
  showAge();
}

// socketDown: the live socket is gone. The indicator says so at once and
// shows how old the last update is; screen readers hear it once it lasts.
function socketDown() {
  if (session.lostAt) return;
  session.lostAt = Date.now();
  clearInterval(session.ageTimer);
  session.ageTimer = setInterval(() => {
    showAge();
    if (session.lostAt && Date.now() - session.lostAt >= DROP_SAY_AFTER_MS && !session.dropSaid) {
      session.dropSaid = true;
      say(t('say.dropped'));
    }
  }, AGE_TICK_MS);
  showAge();
}

function socketBack() {
  const said = session.dropSaid;
  session.lostAt = 0;
  session.dropSaid = false;
  clearInterval(session.ageTimer);
  setConn('live');
  if (said) say(t('say.back'));
}

// showAge: while the socket is down, "last update 12 seconds ago".
function showAge() {
  const down = Boolean(session.lostAt) && !session.done && Boolean(session.lastUpdate);
  ui.connAge.hidden = !down;
  if (down) ui.connAge.textContent = t('conn.age', { ago: fmt.ago(Date.now() - session.lastUpdate) });
}

function setNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = !text;
}

// waitWithCountdown waits `ms`, showing message(secondsLeft) as a notice
// that counts down. Screen readers hear it once, not every second. It ends
// early, quietly, if the visitor has rejoined meanwhile.
function waitWithCountdown(ms, gen, message) {
  say(message(Math.ceil(ms / 1000)));
  return new Promise((resolve) => {
    const end = Date.now() + ms;
    const tick = () => {
      const left = end - Date.now();
      if (gen !== session.gen || left <= 0) {
        resolve();
        return;
      }
      setNotice(message(Math.ceil(left / 1000)));
      setTimeout(tick, left % 1000 || 1000);
    };
    tick();
  });
}

// ---- Replies and retries ---------------------------------------------------------

function isTicketStatus(data) {
  return Boolean(data) && typeof data.ticket === 'string' && data.ticket !== '';
}

// Exponential backoff with "equal jitter": between half and all of
// 1 s · 2^attempt, capped at 30 s. The jitter spreads out a crowd that lost
// the server at the same moment, so they do not all come back at once.
function backoffMs(attempt) {
  const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(attempt, 16));
  return cap / 2 + Math.random() * (cap / 2);
}

function pollDelayMs() {
  return POLL_MIN_MS + Math.random() * (POLL_MAX_MS - POLL_MIN_MS);
}

// ---- Parsing and formatting -----------------------------------------------------

function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// etaSeconds: the server's estimate, or null until it knows the rate.
function etaSeconds(v) {
  const n = Number(v);
  return v == null || !Number.isFinite(n) || n < 0 ? null : n;
}

// formatEta: "about 5 min", or "less than a minute".
function formatEta(seconds) {
  const wait = fmt.wait(seconds / 60);
  return wait ? t('eta.about', { wait }) : t('eta.underMinute');
}

// roomName is how the tab's title names the room: its title, else its id.
function roomName() {
  return info.title || room;
}

// ---- The room's own words and pace -------------------------------------------

// loadRoomInfo reads GET /api/rooms/{room}: the title and message the
// operator set (shown as text, never as HTML) and the admissions of the
// last minute. Again every ROOM_INFO_MS while the page is open and not
// done; a failure keeps what is shown.
async function loadRoomInfo() {
  info.timer = 0;
  let reply = null;
  try {
    reply = await request('GET', 'api/rooms/' + room);
  } catch {
    // Network trouble: next time.
  }
  if (reply && reply.status === 200 && reply.data && typeof reply.data === 'object') {
    const d = reply.data;
    info.title = typeof d.title === 'string' ? d.title.trim() : '';
    info.message = typeof d.message === 'string' ? d.message.trim() : '';
    const rate = Number(d.admitted_per_minute);
    info.rate = d.admitted_per_minute != null && Number.isFinite(rate) && rate >= 0 ? rate : null;
    showRoomWords();
    if (session.last && session.view === 'waiting') showWaiting(session.last);
  }
  // One loop at a time: join() starts it again after a final state.
  clearTimeout(info.timer);
  info.timer = session.done ? 0 : setTimeout(loadRoomInfo, ROOM_INFO_MS);
}

function showRoomWords() {
  ui.roomTitle.textContent = info.title || t('room.untitled', { room });
  ui.roomMessage.textContent = info.message;
  ui.roomMessage.hidden = !info.message;
}

// ---- Your turn: notification, title, sound -----------------------------------

// The visitor's wish to be called lives in the tab's storage, so a reload
// (or the language switch) keeps it; the browser keeps the permission.
const notifySupported = typeof Notification === 'function';
let audio = null; // an AudioContext made while pressing the button (autoplay rules)

function wantsCall() {
  return storage.get(notifyKey) === '1' && notifySupported && Notification.permission === 'granted';
}

function showNotifyState() {
  if (!notifySupported) {
    ui.notify.hidden = true;
    ui.notifyStatus.textContent = t('notify.unsupported');
    return;
  }
  const on = wantsCall();
  ui.notify.setAttribute('aria-pressed', String(on));
  ui.notify.textContent = t(on ? 'notify.on' : 'notify.button');
  if (Notification.permission === 'denied') ui.notifyStatus.textContent = t('notify.denied');
  else ui.notifyStatus.textContent = on ? t('notify.onStatus') : t('notify.offStatus');
}

// onNotify asks for permission only now, when pressed; pressed again it
// turns the call off (the browser's permission stays as the visitor set it).
async function onNotify() {
  if (!notifySupported) return;
  if (wantsCall()) {
    storage.remove(notifyKey);
    showNotifyState();
    return;
  }
  prepareSound();
  let permission = Notification.permission;
  if (permission === 'default') {
    try {
      permission = await Notification.requestPermission();
    } catch {
      permission = Notification.permission;
    }
  }
  if (permission === 'granted') storage.set(notifyKey, '1');
  showNotifyState();
}

function prepareSound() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx || audio) return;
  try {
    audio = new Ctx();
  } catch {
    audio = null;
  }
}

// callVisitor: admitted while the tab is hidden. The title has changed
// already; when asked, a notification and a short chime as well.
function callVisitor() {
  if (!wantsCall()) return;
  try {
    const n = new Notification(t('notify.title'), {
      body: t('notify.body', { room: roomName() }),
      tag: 'waitroom-' + room,
      lang,
      requireInteraction: true,
    });
    n.addEventListener('click', () => {
      window.focus();
      n.close();
    });
    document.documentElement.dataset.notified = 'true';
  } catch {
    // Some browsers allow notifications only from a service worker.
  }
  chime();
}

// chime plays two short tones (about 0.7 s) made with Web Audio: no audio file.
function chime() {
  prepareSound();
  if (!audio) return;
  const play = () => {
    const now = audio.currentTime;
    for (const [i, freq] of [880, 1318.5].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const at = now + i * 0.22;
      gain.gain.setValueAtTime(0.0001, at);
      gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.45);
      osc.connect(gain).connect(audio.destination);
      osc.start(at);
      osc.stop(at + 0.5);
    }
    document.documentElement.dataset.chimed = 'true';
  };
  if (audio.state === 'suspended') audio.resume().then(play, () => {});
  else play();
}

// ---- Leaving the line -----------------------------------------------------------

function openLeave() {
  ui.leave.hidden = true;
  ui.leaveConfirm.hidden = false;
  ui.leaveStatus.textContent = '';
  ui.leaveNo.focus();
}

function closeLeave() {
  const wasOpen = !ui.leaveConfirm.hidden;
  ui.leaveConfirm.hidden = true;
  ui.leave.hidden = false;
  ui.leaveYes.disabled = false;
  return wasOpen;
}

// leave gives the place up (DELETE /api/rooms/{room}/tickets/{ticket}).
// The socket is dropped first, so its "expired: left" does not speak for us.
async function leave() {
  const ticket = session.ticket;
  if (!ticket || session.done) return;
  const gen = session.gen;
  ui.leaveYes.disabled = true;
  ui.leaveStatus.textContent = t('leave.leaving');
  let reply = null;
  try {
    reply = await request('DELETE', apiBase + '/tickets/' + encodeURIComponent(ticket));
  } catch {
    // Said below.
  }
  if (gen !== session.gen || session.done) return;
  ui.leaveYes.disabled = false;
  if (reply && (reply.status === 204 || reply.status === 404)) {
    // 404: the place was gone already; either way the visitor is out.
    storage.remove(notifyKey);
    finish(ended('left_here'));
    ui.rejoin.focus();
    return;
  }
  ui.leaveStatus.textContent = t('leave.failed');
}

// ---- Start --------------------------------------------------------------
// Last, so every const above (helpers, tables) is initialised before use.

translate();
ui.rejoin.addEventListener('click', () => join());
ui.notify.addEventListener('click', onNotify);
ui.leave.addEventListener('click', openLeave);
ui.leaveNo.addEventListener('click', () => {
  closeLeave();
  ui.leave.focus();
});
ui.leaveYes.addEventListener('click', leave);
ui.leaveConfirm.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && closeLeave()) ui.leave.focus();
});
// Coming back online or back to the tab: don't wait out the backoff.
window.addEventListener('online', reconnectNow);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  // Admitted while away: the visitor is back, so go on.
  if (session.target) {
    goOn();
    return;
  }
  // Shown again after being hidden: the visitor is using this tab now, so
  // it may take the socket back from the other tab (see CLOSE_REPLACED);
  // that tab then falls back to polling in turn.
  session.replaced = false;
  reconnectNow();
});

takeUserToken(); // first: the language links copy the address
languageSwitch(ui.langSwitch);
if (!room) {
  ui.roomTitle.textContent = t('room.eyebrow');
  finish(ended('badLink'));
} else {
  showRoomWords();
  showNotifyState();
  document.title = t('title.joining', { room: roomName() });
  join(); // first: the place in line matters more than the room's words
  loadRoomInfo();
}
