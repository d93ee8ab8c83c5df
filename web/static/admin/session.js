/*
 * session.js: signing in and out with the operator token.
 *
 * The token lives in this tab's sessionStorage and in memory (api.js), and
 * nowhere else: not in local storage, not in a cookie, not in a URL. The
 * first 401 forgets it and asks for it again.
 */
import { retryAfterMs } from '../lib/api.js';
import { t } from '../lib/i18n.js';
import { tabStorage } from '../lib/storage.js';
import { begin, checkToken, describeFailure, end, isCurrent, onTokenRefused } from './api.js';
import { invalid, say, setConn, setStatus, ui } from './page.js';
import { REFRESH_MS, showLive, startPolling, stopPolling } from './poll.js';
import { applyRooms, clearRooms, roomCountText, updateRoomCount } from './rooms.js';

const TOKEN_KEY = 'wr_admin_token'; // sessionStorage key

let checking = false; // a sign-in is being checked

// startSession shows the rooms at once with a token kept from earlier in
// this tab, or else the sign-in form. The first refresh checks a kept
// token; a 401 brings the sign-in form back.
export function startSession() {
  onTokenRefused(tokenRefused);
  const saved = tabStorage.get(TOKEN_KEY);
  if (saved) {
    begin(saved);
    showDashboard();
    setConn('connecting', t('admin.signin.checkingSaved'));
    startPolling();
  } else {
    showSignIn();
  }
}

function showSignIn(message = '', kind = '') {
  stopPolling();
  clearRooms();
  ui.dashboard.hidden = true;
  ui.signOut.hidden = true;
  ui.signin.hidden = false;
  setConn(null);
  setSigninChecking(false);
  setStatus(ui.signinStatus, message, kind);
  ui.token.focus();
}

function showDashboard() {
  ui.signin.hidden = true;
  ui.dashboard.hidden = false;
  ui.signOut.hidden = false;
  updateRoomCount();
}

// onSignIn handles the sign-in form. The token is checked with a real call.
// A wrong one is answered slowly on purpose (the server doubles its wait per
// wrong try, up to 5 s), hence "Checking…" rather than a page that seems stuck.
export async function onSignIn(event) {
  event.preventDefault();
  if (checking) return;
  const token = ui.token.value.trim();
  if (!token) {
    invalid(ui.token, true);
    setStatus(ui.signinStatus, t('admin.signin.empty'), 'error');
    ui.token.focus();
    return;
  }
  // A header value cannot hold spaces, line breaks or non-ASCII; fetch
  // would throw on them.
  if (!/^[\x21-\x7e]+$/.test(token)) {
    invalid(ui.token, true);
    setStatus(ui.signinStatus, t('admin.signin.badChars'), 'error');
    ui.token.focus();
    return;
  }
  invalid(ui.token, false);

  const gen = begin(token);
  setSigninChecking(true);
  setStatus(ui.signinStatus, t('admin.signin.checking'));
  const startedAt = performance.now();
  const reply = await checkToken();
  if (!isCurrent(gen)) return;
  setSigninChecking(false);

  if (reply.status === 200 && Array.isArray(reply.data)) {
    tabStorage.set(TOKEN_KEY, token);
    ui.token.value = '';
    setStatus(ui.signinStatus, '');
    showDashboard();
    applyRooms(reply.data, startedAt);
    showLive();
    startPolling(REFRESH_MS - (performance.now() - startedAt));
    ui.roomsTitle.focus();
    say(t('admin.signin.done', { rooms: roomCountText() }));
    return;
  }
  end();
  invalid(ui.token, reply.status === 401);
  if (reply.status === 401) {
    setStatus(ui.signinStatus, t('admin.signin.refused'), 'error');
    ui.token.select();
  } else if (reply.status === 429) {
    setStatus(ui.signinStatus, t('admin.signin.tooMany', { n: Math.ceil(retryAfterMs(reply.retryAfter) / 1000) }), 'error');
  } else {
    setStatus(ui.signinStatus, t('admin.signin.failed', { reason: describeFailure(reply) }), 'error');
  }
  ui.token.focus();
}

function setSigninChecking(on) {
  checking = on;
  // aria-disabled, not disabled: a disabled button loses focus.
  ui.signinButton.setAttribute('aria-disabled', String(on));
  ui.signinButton.textContent = t(on ? 'admin.signin.checkingShort' : 'admin.signinButton');
  ui.token.readOnly = on;
}

export function signOut() {
  end();
  tabStorage.remove(TOKEN_KEY);
  showSignIn(t('admin.signin.signedOut'), 'ok');
}

// tokenRefused: the server answered 401 to a signed-in call (the token was
// changed, or the session's copy is wrong). Forget it and ask again.
function tokenRefused() {
  tabStorage.remove(TOKEN_KEY);
  showSignIn(t('admin.signin.expired'), 'error');
}
