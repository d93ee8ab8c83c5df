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
 * No framework and no build step: ES modules, shared ones in lib/. The page
 * must run under "default-src 'self'; connect-src 'self' ws://<host>
 * wss://<host>": its socket goes back to the host it came from, and nothing
 * here uses inline handlers, eval or style attributes. Element.style set
 * from script is CSSOM, which that policy allows. Every URL comes from
 * lib/base.js, so the page works under a path prefix too.
 */
import { announcer } from './lib/announce.js';
import { errorCode, errorMessage, request, retryAfterMs, serverNow } from './lib/api.js';
import { roomIn, socketFor, urlFor } from './lib/base.js';
import { showConn } from './lib/conn.js';
import { formatCountdown, formatInt, formatLocalTime, formatWait } from './lib/format.js';
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

// ---- Elements -----------------------------------------------------------

const byId = (id) => document.getElementById(id);
const ui = {
  roomLabel: byId('room-label'),
  heading: byId('heading'),
  conn: byId('conn'),
  connText: byId('conn-text'),
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
  waiting: byId('waiting'),
  opensLine: byId('opens-line'),
  opensAt: byId('opens-at'),
  countdown: byId('countdown'),
  prequeueWaiting: byId('prequeue-waiting'),
  continueLink: byId('continue'),
  endedMessage: byId('ended-message'),
  endedDetail: byId('ended-detail'),
  rejoin: byId('rejoin'),
  announcer: byId('announcer'),
  checkProgress: byId('check-progress'),
  checkFill: byId('check-fill'),
  checkPercent: byId('check-percent'),
};

// ---- State --------------------------------------------------------------

const room = roomIn('rooms');
const apiBase = 'api/rooms/' + room;
const userTokenKey = 'wr_user_token_' + room;

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
  showView('loading', 'Joining the line…');
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
      finish({
        heading: 'Please sign in at the shop first',
        message: 'This sale is for signed-in customers. Go back to the shop, sign in, and follow its link to the waiting room again.',
      });
      return;
    }
    const code = reply ? errorCode(reply.data) : '';
    if (status === 403 && (code === 'pow_required' || code === 'pow_invalid')) {
      if (solves >= POW_SOLVES) {
        finish({
          heading: 'We could not check your browser',
          message: 'The waiting room did not accept the check this browser did, so you are not in line yet.',
          button: 'Try again',
        });
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
      finish({
        heading: 'This sale is closed',
        message: 'This sale is closed, so the waiting room is not taking new visitors.',
      });
      return;
    }
    if (status === 404) {
      finish({
        heading: 'Waiting room not found',
        message: 'There is no waiting room at this address. Please check the link.',
      });
      return;
    }
    if (status === 429) {
      await waitWithCountdown(retryAfterMs(reply.retryAfter), gen,
        (s) => `Lots of people are joining right now. Trying again in ${s} s…`);
    } else if (status === 0 || status === 408 || status >= 500) {
      await waitWithCountdown(backoffMs(attempt++), gen,
        (s) => navigator.onLine === false
          ? `You seem to be offline. Trying again in ${s} s…`
          : `We can't reach the waiting room right now. Trying again in ${s} s…`);
    } else {
      finish({
        heading: 'Something went wrong',
        message: errorMessage(reply.data) || 'We could not put you in line.',
        button: 'Try again',
      });
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
  showView('checking', 'Checking your browser…');
  setCheckProgress(0);
  say('Checking your browser before you join the line. This takes a few seconds.');

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
      await waitWithCountdown(retryAfterMs(reply.retryAfter), gen,
        (s) => `Lots of people are joining right now. Trying again in ${s} s…`);
    } else if (status === 0 || status === 408 || status >= 500) {
      await waitWithCountdown(backoffMs(attempt++), gen,
        (s) => `We can't reach the waiting room right now. Trying again in ${s} s…`);
    } else if (status === 404) {
      finish({
        heading: 'Waiting room not found',
        message: 'There is no waiting room at this address. Please check the link.',
      });
      return null;
    } else {
      finish({
        heading: 'Something went wrong',
        message: errorMessage(reply.data) || 'We could not get the browser check.',
        button: 'Try again',
      });
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
    finish({ heading: 'Something went wrong', message: 'The browser check did not load. Please reload the page.', button: 'Try again' });
    return null;
  }
  const stop = new AbortController();
  try {
    const payload = await pow.solve(challenge, (fraction) => {
      if (gen !== session.gen) stop.abort();
      else setCheckProgress(Math.floor(fraction * 100));
    }, stop.signal);
    if (gen !== session.gen) return null;
    showView('loading', 'Joining the line…');
    say('Check complete. Joining the line…');
    return payload;
  } catch (err) {
    if (gen !== session.gen) return null;
    if (err && err.code === 'unsupported') {
      finish({
        heading: "This browser can't join the line",
        message: err.message,
        detail: 'Every visitor\'s browser solves a small puzzle before joining, so that nobody can take many places at once.',
        button: 'Try again',
      });
    } else {
      finish({
        heading: 'Something went wrong',
        message: 'We could not check your browser: ' + ((err && err.message) || 'unknown error'),
        button: 'Try again',
      });
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
    setConn('live');
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
      finish(endedText('room_deleted'));
    } else {
      // ticket_not_found: the place is gone (away too long, or left from
      // elsewhere). Get a new one rather than leave the visitor stranded.
      join('Your earlier place in line was lost, so you have joined the line again, at the back.');
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
      finish(endedText(msg.reason));
      break;
    default:
      // A message from a newer server that this page does not know: ignore.
  }
}

function showWaiting(msg) {
  const position = Number(msg.position);
  if (!Number.isFinite(position) || position < 1) return;
  const ahead = Number.isFinite(Number(msg.ahead)) ? Number(msg.ahead) : position - 1;

  showView('waiting', "You're in line");
  ui.position.textContent = formatInt(position);
  ui.ahead.textContent = ahead === 0
    ? "0 ahead of you: you're next!"
    : `${formatInt(ahead)} ahead of you`;
  ui.waiting.textContent = msg.waiting == null ? '–' : formatInt(msg.waiting);
  const eta = formatEta(msg.eta_seconds);
  ui.eta.textContent = eta;
  setProgress(progressPercent(firstPosition(position), position));
  document.title = `#${formatInt(position)} in line · Waiting room`;

  const etaSentence = msg.eta_seconds == null ? '' : ` Estimated wait: ${eta}.`;
  announcePosition(position, position === 1
    ? "You're next in line."
    : `You are number ${formatInt(position)} in line, ${formatInt(ahead)} ahead of you.${etaSentence}`);
}

function showPrequeue(msg) {
  const entering = session.view !== 'prequeue';
  showView('prequeue', 'The sale opens soon');
  document.title = 'Sale opens soon · Waiting room';
  ui.prequeueWaiting.textContent = msg.waiting == null
    ? ''
    : `${formatInt(msg.waiting)} ${Number(msg.waiting) === 1 ? 'person is' : 'people are'} waiting for the opening.`;

  const opensAt = Date.parse(msg.opens_at);
  if (Number.isNaN(opensAt)) {
    ui.opensLine.textContent = 'The sale opens soon.';
    ui.countdown.hidden = true;
    stopCountdown();
  } else if (session.opensAt !== opensAt || !session.countdownTimer) {
    ui.opensLine.replaceChildren('The sale opens at ', ui.opensAt, '.');
    ui.opensAt.dateTime = msg.opens_at;
    ui.opensAt.textContent = formatLocalTime(opensAt, 'full');
    ui.countdown.hidden = false;
    startCountdown(opensAt);
  }
  if (entering) {
    say(`${ui.opensLine.textContent} You are in the pre-queue: when the sale opens, everyone in it gets a random place in line.`);
  }
}

function startCountdown(opensAt) {
  stopCountdown();
  session.opensAt = opensAt;
  const tick = () => {
    const left = opensAt - serverNow();
    ui.countdown.textContent = left > 0
      ? `Opens in ${formatCountdown(left)}`
      : 'Opening now: places in line are being drawn…';
  };
  tick();
  session.countdownTimer = setInterval(tick, 1000);
}

function stopCountdown() {
  clearInterval(session.countdownTimer);
  session.countdownTimer = 0;
  session.opensAt = null;
}

// admit stores the entry token where the booking page can read it, says so
// briefly, then leaves for the booking page.
function admit(msg) {
  session.done = true;
  stopLive();
  forgetFirstPosition();
  const target = withEntryToken(safeTarget(msg.target_url), msg.entry_token);
  ui.continueLink.href = target;
  setNotice('');
  setConn(null);
  showView('admitted', "You're in!");
  document.title = "You're in! · Waiting room";
  say("You're in! Taking you to the booking page.");
  setTimeout(() => location.assign(target), ADMITTED_PAUSE_MS);
}

// finish shows a final state: expired, closed, not found, or an error.
// `button` labels the rejoin button; without one the button is hidden,
// for states where joining again cannot help.
function finish({ heading, message, detail = '', button = false }) {
  session.done = true;
  stopLive();
  forgetFirstPosition();
  setNotice('');
  setConn(null);
  showView('ended', heading);
  document.title = heading + ' · Waiting room';
  ui.endedMessage.textContent = message;
  ui.endedDetail.textContent = detail;
  ui.endedDetail.hidden = !detail;
  ui.rejoin.hidden = !button;
  if (button) ui.rejoin.textContent = button;
  say(`${heading}. ${message}`);
}

// endedText explains an "expired" reason to the visitor.
function endedText(reason) {
  const again = 'If you join again, you start at the back of the line.';
  const rejoin = 'Join the line again';
  switch (reason) {
    case 'left':
      return { heading: 'You left the line', message: 'Your place was given up, perhaps from another tab or device.', detail: again, button: rejoin };
    case 'abandoned':
      return { heading: 'Your place was released', message: 'This page was closed or offline for too long, so your place went to the next person.', detail: again, button: rejoin };
    case 'admission_ended':
      return { heading: 'Your booking time has ended', message: 'Your turn to book is over.', detail: again, button: rejoin };
    case 'room_deleted':
      return { heading: 'This waiting room has closed', message: 'The organiser has closed this waiting room.', button: rejoin };
    default:
      return { heading: 'Your place in line has ended', message: 'You are no longer in the line.', detail: again, button: rejoin };
  }
}

// stopLive ends the socket, reconnects, polling and the countdown.
function stopLive() {
  clearTimeout(session.reconnectTimer);
  stopPolling();
  dropSocket();
  stopCountdown();
}

// ---- Entry token and redirect ---------------------------------------------

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
  ui.progress.setAttribute('aria-valuetext', `${percent}% of the way to the front`);
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
  if (session.view !== name) {
    session.view = name;
    // A new state speaks for itself first; the next position is news.
    spoken.position = null;
    spoken.pending = null;
    if (name !== 'prequeue') stopCountdown();
  }
}

const CONN_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  polling: 'Polling: checking every few seconds',
};

// setConn updates the connection indicator; null hides it.
function setConn(state) {
  showConn(ui.conn, ui.connText, state, CONN_TEXT[state]);
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

// formatEta: "calculating…" until the server knows the admission rate.
function formatEta(seconds) {
  if (seconds == null || !Number.isFinite(Number(seconds))) return 'calculating…';
  return formatWait(Number(seconds) / 60, 'less than a minute');
}

// ---- Start --------------------------------------------------------------
// Last, so every const above (helpers, tables) is initialised before use.

ui.rejoin.addEventListener('click', () => join());
// Coming back online or back to the tab: don't wait out the backoff.
window.addEventListener('online', reconnectNow);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  // Shown again after being hidden: the visitor is using this tab now, so
  // it may take the socket back from the other tab (see CLOSE_REPLACED);
  // that tab then falls back to polling in turn.
  session.replaced = false;
  reconnectNow();
});

if (!room) {
  finish({
    heading: 'Waiting room not found',
    message: 'This link does not point to a valid waiting room. Please check the address.',
  });
} else {
  ui.roomLabel.textContent = 'Waiting room · ' + room;
  takeUserToken();
  join();
}
