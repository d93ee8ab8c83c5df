/*
 * admin.js: the operator page, served at /admin.
 *
 * Sign in with the operator token, then watch every room (GET
 * /api/admin/rooms every 2 s), draw the last 10 minutes of each room from
 * the figures this page has collected, and change rooms (PUT and DELETE
 * /api/admin/rooms/{room}). The contract is docs/API.md, "Operator API".
 *
 * The token lives in this tab's sessionStorage and in memory, and nowhere
 * else: not in local storage, not in a cookie, not in a URL. Every call sends
 * it as "Authorization: Bearer <token>"; the first 401 forgets it and asks
 * for it again.
 *
 * No framework and no build step. The page runs under a strict
 * "default-src 'self'" policy: no inline handlers, no eval, no style
 * attributes. The chart is SVG built with DOM calls and styled from
 * admin.css, so it follows the light and dark themes.
 */
(() => {
  'use strict';

  // ---- Tunables -----------------------------------------------------------

  const TOKEN_KEY = 'wr_admin_token'; // sessionStorage key
  const REFRESH_MS = 2000; // how often the room list is fetched and sampled
  const RETRY_MAX_MS = 15000; // failed refreshes back off up to this
  const REQUEST_TIMEOUT_MS = 20000; // the server waits up to 5 s before refusing a token
  const CHART_WINDOW_MS = 10 * 60 * 1000; // the chart shows the last 10 minutes
  const CHART_GAP_MS = 3.5 * REFRESH_MS; // samples further apart are not joined by a line
  const CHART_HEIGHT = 200; // px; the width follows the card
  const ROOM_ID = /^[a-z0-9-]{1,64}$/;
  const MODES = ['auto', 'queue_all', 'passthrough', 'reject'];
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // The settings form, in docs/API.md's field names. Integer fields take their
  // limits from the input's min and max in admin.html, so the limits live in
  // one place. `label` is how messages name the field.
  const FIELDS = [
    { name: 'batch_size', kind: 'int', label: 'Batch size' },
    { name: 'interval_ms', kind: 'int', label: 'Interval' },
    { name: 'capacity', kind: 'int', label: 'Capacity' },
    { name: 'session_ttl_s', kind: 'int', label: 'Session length' },
    { name: 'mode', kind: 'mode', label: 'Mode' },
    { name: 'abandon_after_s', kind: 'int', label: 'Abandon after' },
    { name: 'target_url', kind: 'url', label: 'Target URL' },
    { name: 'opens_at', kind: 'time', label: 'Opening time' },
    { name: 'pow_work', kind: 'int', label: 'Proof of work' },
    { name: 'require_user', kind: 'bool', label: 'Signed-in visitors only' },
  ];
  // Every field a server message can name; paused has buttons, not an input.
  const ERROR_FIELDS = FIELDS.map((f) => f.name).concat('paused');

  // ---- Elements -----------------------------------------------------------

  const byId = (id) => document.getElementById(id);
  const ui = {
    conn: byId('conn'),
    connText: byId('conn-text'),
    signOut: byId('sign-out'),
    signin: byId('view-signin'),
    signinForm: byId('signin-form'),
    token: byId('token'),
    signinButton: byId('signin-button'),
    signinStatus: byId('signin-status'),
    dashboard: byId('view-dashboard'),
    createForm: byId('create-form'),
    createId: byId('create-id'),
    createButton: byId('create-button'),
    createStatus: byId('create-status'),
    roomsTitle: byId('rooms-title'),
    roomsEmpty: byId('rooms-empty'),
    rooms: byId('rooms'),
    announcer: byId('announcer'),
    template: byId('room-template'),
  };

  // part finds a named element inside a room card (data-part in the template).
  const part = (root, name) => root.querySelector(`[data-part="${name}"]`);

  // ---- State --------------------------------------------------------------

  const state = {
    token: null,
    // Goes up on every sign-in and sign-out, so replies that belong to an
    // earlier session can tell and do nothing.
    gen: 0,
    checking: false, // a sign-in is being checked
    creating: false,
    polling: false,
    pollTimer: 0,
    failures: 0, // refreshes failed in a row
    loaded: false, // the room list has arrived at least once
    rooms: new Map(), // room id → room record (see addRoom)
    // Rooms this page deleted, and when (performance.now()): a listing that
    // was already on its way must not bring them back.
    deletedAt: new Map(),
    resizeFrame: 0,
  };

  // sessionStorage may be missing or throw (storage turned off); then the
  // token lives in memory for this page load only.
  const tokenStore = (() => {
    let memory = null;
    return {
      get() {
        try { return sessionStorage.getItem(TOKEN_KEY); } catch { return memory; }
      },
      set(value) {
        try { sessionStorage.setItem(TOKEN_KEY, value); } catch { memory = value; }
      },
      clear() {
        memory = null;
        try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* nothing stored */ }
      },
    };
  })();

  // ---- Signing in and out ---------------------------------------------------

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

  // The token is checked with a real call. A wrong one is answered slowly on
  // purpose (the server doubles its wait per wrong try, up to 5 s), hence
  // "Checking…" rather than a page that seems stuck.
  async function onSignIn(event) {
    event.preventDefault();
    if (state.checking) return;
    const token = ui.token.value.trim();
    if (!token) {
      invalid(ui.token, true);
      setStatus(ui.signinStatus, 'Enter the operator token.', 'error');
      ui.token.focus();
      return;
    }
    // A header value cannot hold spaces, line breaks or non-ASCII; fetch
    // would throw on them.
    if (!/^[\x21-\x7e]+$/.test(token)) {
      invalid(ui.token, true);
      setStatus(ui.signinStatus, 'A token has no spaces or special characters; check what was pasted.', 'error');
      ui.token.focus();
      return;
    }
    invalid(ui.token, false);

    const gen = ++state.gen;
    state.token = token;
    setSigninChecking(true);
    setStatus(ui.signinStatus, 'Checking… (a wrong token takes a few seconds to be refused)');
    const startedAt = performance.now();
    const reply = await api('GET', '/api/admin/rooms');
    if (gen !== state.gen) return;
    setSigninChecking(false);

    if (reply.status === 200 && Array.isArray(reply.data)) {
      tokenStore.set(token);
      ui.token.value = '';
      setStatus(ui.signinStatus, '');
      showDashboard();
      applyRooms(reply.data, startedAt);
      setConn('live', 'Live · updated ' + clockTime(new Date()));
      startPolling(REFRESH_MS - (performance.now() - startedAt));
      ui.roomsTitle.focus();
      say(`Signed in. ${roomCountText()}.`);
      return;
    }
    state.token = null;
    invalid(ui.token, reply.status === 401);
    if (reply.status === 401) {
      setStatus(ui.signinStatus, 'That token was not accepted. Check it and try again.', 'error');
      ui.token.select();
    } else if (reply.status === 429) {
      setStatus(ui.signinStatus, `Too many attempts. Wait ${Math.ceil(retryAfterMs(reply.retryAfter) / 1000)} s, then try again.`, 'error');
    } else {
      setStatus(ui.signinStatus, `Could not check the token: ${describeFailure(reply)} Try again.`, 'error');
    }
    ui.token.focus();
  }

  function setSigninChecking(checking) {
    state.checking = checking;
    // aria-disabled, not disabled: a disabled button loses focus.
    ui.signinButton.setAttribute('aria-disabled', String(checking));
    ui.signinButton.textContent = checking ? 'Checking…' : 'Sign in';
    ui.token.readOnly = checking;
  }

  function signOut() {
    state.gen++;
    state.token = null;
    tokenStore.clear();
    showSignIn('Signed out. This tab no longer holds the token.', 'ok');
  }

  // tokenRefused: the server answered 401 to a signed-in call (the token was
  // changed, or the session's copy is wrong). Forget it and ask again.
  function tokenRefused() {
    state.gen++;
    state.token = null;
    tokenStore.clear();
    showSignIn('The server did not accept the token (it may have been changed). Please sign in again.', 'error');
  }

  // ---- Refreshing -------------------------------------------------------------

  function startPolling(firstDelayMs = 0) {
    stopPolling();
    state.polling = true;
    state.pollTimer = setTimeout(pollOnce, Math.max(0, firstDelayMs));
  }

  function stopPolling() {
    state.polling = false;
    clearTimeout(state.pollTimer);
    state.pollTimer = 0;
  }

  // One refresh, then the next one REFRESH_MS after this one started: a
  // chain of timeouts rather than an interval, so slow replies never pile up.
  async function pollOnce() {
    const gen = state.gen;
    const startedAt = performance.now();
    const reply = await authed('GET', '/api/admin/rooms');
    if (!reply || gen !== state.gen || !state.polling) return;

    let wait;
    if (reply.status === 200 && Array.isArray(reply.data)) {
      if (state.failures > 0) say('Back in contact with the server.');
      state.failures = 0;
      applyRooms(reply.data, startedAt);
      setConn('live', 'Live · updated ' + clockTime(new Date()));
      wait = REFRESH_MS - (performance.now() - startedAt);
    } else {
      state.failures++;
      wait = reply.status === 429
        ? retryAfterMs(reply.retryAfter)
        : Math.min(RETRY_MAX_MS, REFRESH_MS * 2 ** Math.min(state.failures - 1, 4));
      if (state.failures === 1) say('Lost contact with the server; the figures are not updating. Retrying.');
      setConn('reconnecting', `Not updating: ${describeFailure(reply)} Retrying in ${Math.ceil(wait / 1000)} s.`);
    }
    state.pollTimer = setTimeout(pollOnce, Math.max(200, wait));
  }

  // applyRooms takes a room listing that was requested at `startedAt`. A room
  // this page changed after that moment keeps what the change returned: the
  // listing is older news, and would flash the old config back for 2 s.
  function applyRooms(list, startedAt) {
    const now = Date.now();
    const listed = new Set();
    for (const item of list) {
      if (!item || typeof item.room !== 'string' || !ROOM_ID.test(item.room)) continue;
      const id = item.room;
      listed.add(id);
      const deletedAt = state.deletedAt.get(id);
      if (deletedAt !== undefined && deletedAt > startedAt) continue;
      const room = state.rooms.get(id) || addRoom(id);
      if (room.changedAt <= startedAt) renderConfig(room, item.config);
      if (item.stats && typeof item.stats === 'object') {
        room.stats = item.stats;
        addSample(room, now, item.stats);
      }
      renderStats(room);
    }
    for (const room of [...state.rooms.values()]) {
      // Gone from the listing: deleted elsewhere (unless created here since).
      if (!listed.has(room.id) && room.changedAt <= startedAt) {
        removeRoom(room);
        say(`Room ${room.id} no longer exists.`);
      }
    }
    // A deletion older than this listing is in it already.
    for (const [id, at] of state.deletedAt) {
      if (at <= startedAt) state.deletedAt.delete(id);
    }
    state.loaded = true;
    updateRoomCount();
    drawCharts();
  }

  function addSample(room, t, stats) {
    room.samples.push({ t, waiting: count(stats.waiting), admitted: count(stats.admitted) });
    const oldest = t - CHART_WINDOW_MS - REFRESH_MS;
    while (room.samples.length && room.samples[0].t < oldest) room.samples.shift();
  }

  // ---- Room cards -----------------------------------------------------------

  // addRoom clones the template for a room and wires it. Controls get ids
  // r-<room>-<field> (room ids are a-z, 0-9 and '-', so these are safe ids).
  function addRoom(id) {
    const card = ui.template.content.firstElementChild.cloneNode(true);
    const prefix = 'r-' + id;
    const room = {
      id,
      card,
      config: null,
      stats: null,
      samples: [], // {t, waiting, admitted}, oldest first
      changedAt: 0, // performance.now() of this page's last change to the room
      busy: false, // a change is on its way
      fields: {}, // field name → input or select
      errors: {}, // field name → its error line
      els: {
        title: part(card, 'title'),
        state: part(card, 'state'),
        pageLink: part(card, 'page-link'),
        waiting: part(card, 'waiting'),
        admitted: part(card, 'admitted'),
        rate: part(card, 'rate'),
        oldest: part(card, 'oldest'),
        eta: part(card, 'eta'),
        chartTitle: part(card, 'chart-title'),
        chartWrap: part(card, 'chart-wrap'),
        chart: part(card, 'chart'),
        chartSummary: part(card, 'chart-summary'),
        pausedText: part(card, 'paused-text'),
        pause: part(card, 'pause'),
        resume: part(card, 'resume'),
        pauseStatus: part(card, 'pause-status'),
        settings: part(card, 'settings'),
        clearOpens: part(card, 'clear-opens'),
        opensText: part(card, 'opens-text'),
        save: part(card, 'save'),
        discard: part(card, 'discard'),
        dirtyCount: part(card, 'dirty-count'),
        saveStatus: part(card, 'save-status'),
        del: part(card, 'delete'),
        deleteStatus: part(card, 'delete-status'),
      },
    };
    const els = room.els;

    els.title.id = prefix + '-title';
    els.title.textContent = id;
    card.setAttribute('aria-labelledby', els.title.id);
    els.pageLink.href = '/rooms/' + id;
    els.pageLink.textContent = 'Waiting page /rooms/' + id;
    els.chartSummary.id = prefix + '-chart-summary';
    els.chart.setAttribute('aria-label', `Chart of visitors waiting and admitted in room ${id} over the last 10 minutes`);
    els.chart.setAttribute('aria-describedby', els.chartSummary.id);

    for (const name of ERROR_FIELDS) {
      const error = card.querySelector(`[data-error="${name}"]`);
      error.id = `${prefix}-${name}-error`;
      room.errors[name] = error;
    }
    for (const f of FIELDS) {
      const input = card.querySelector(`[data-field="${f.name}"]`);
      input.id = `${prefix}-${f.name}`;
      card.querySelector(`[data-for="${f.name}"]`).htmlFor = input.id;
      const hint = card.querySelector(`[data-hint="${f.name}"]`);
      hint.id = `${prefix}-${f.name}-hint`;
      const describedBy = [hint.id, room.errors[f.name].id];
      if (f.name === 'opens_at') {
        els.opensText.id = `${prefix}-opens-text`;
        describedBy.push(els.opensText.id);
      }
      input.setAttribute('aria-describedby', describedBy.join(' '));
      input.addEventListener('input', () => updateDirty(room));
      room.fields[f.name] = input;
    }
    els.pause.setAttribute('aria-describedby', room.errors.paused.id);
    els.resume.setAttribute('aria-describedby', room.errors.paused.id);

    els.pause.addEventListener('click', () => setPaused(room, true));
    els.resume.addEventListener('click', () => setPaused(room, false));
    els.clearOpens.addEventListener('click', () => clearOpeningTime(room));
    els.settings.addEventListener('submit', (event) => {
      event.preventDefault();
      saveSettings(room);
    });
    els.discard.addEventListener('click', () => discardChanges(room));
    els.del.addEventListener('click', () => deleteRoom(room));

    // Keep the cards in room-id order.
    let before = null;
    for (const other of state.rooms.values()) {
      if (other.id > id && (!before || other.id < before.id)) before = other;
    }
    ui.rooms.insertBefore(card, before ? before.card : null);
    state.rooms.set(id, room);
    return room;
  }

  function removeRoom(room) {
    const hadFocus = room.card.contains(document.activeElement);
    room.card.remove();
    state.rooms.delete(room.id);
    if (hadFocus) ui.roomsTitle.focus();
    updateRoomCount();
  }

  function clearRooms() {
    state.rooms.clear();
    state.deletedAt.clear();
    state.loaded = false;
    state.failures = 0;
    ui.rooms.replaceChildren();
    updateRoomCount();
  }

  function updateRoomCount() {
    const n = state.rooms.size;
    ui.roomsTitle.textContent = n ? `Rooms (${n})` : 'Rooms';
    ui.roomsEmpty.hidden = n > 0;
    ui.roomsEmpty.textContent = state.loaded ? 'No rooms yet. Create one above.' : 'Loading rooms…';
  }

  function roomCountText() {
    const n = state.rooms.size;
    return n === 1 ? '1 room' : `${n} rooms`;
  }

  // renderConfig shows a room's config. A field the operator has edited but
  // not saved keeps the edit (a refresh must not undo typing); its "base",
  // the server's value, still moves on, so saving sends only real changes.
  // Fields in `saved` were just saved: they take the server's value.
  function renderConfig(room, config, saved = []) {
    if (!config || typeof config !== 'object') return;
    room.config = config;
    for (const f of FIELDS) {
      const input = room.fields[f.name];
      const server = toInputValue(f, config[f.name]);
      if (f.kind === 'mode') ensureOption(input, server);
      const edited = input.dataset.base !== undefined && input.value !== input.dataset.base;
      if (!edited || saved.includes(f.name)) input.value = server;
      input.dataset.base = server;
    }
    updateDirty(room);

    const paused = config.paused === true;
    const els = room.els;
    els.pausedText.textContent = paused
      ? 'Admissions are paused: nobody is let in; joining still works.'
      : 'Admissions are running.';
    // aria-disabled rather than disabled: the button just pressed keeps focus.
    els.pause.setAttribute('aria-disabled', String(paused));
    els.resume.setAttribute('aria-disabled', String(!paused));

    const opens = parseTime(config.opens_at);
    els.clearOpens.setAttribute('aria-disabled', String(opens === null));
    if (opens === null) {
      els.opensText.textContent = 'No opening time is set.';
    } else {
      const left = opens - Date.now();
      els.opensText.textContent = `Set to ${config.opens_at} (UTC), ${formatLocalTime(opens)} your time; ` +
        (left > 0 ? `opens in ${formatDuration(left)}.` : 'already passed.');
    }

    const [kind, text] = roomState(config, opens);
    els.state.dataset.state = kind;
    els.state.textContent = text;
  }

  // The state words of docs/API.md's GET /api/rooms/{room}, worked out here from
  // the config, plus the mode.
  function roomState(config, opens) {
    const mode = MODES.includes(config.mode) ? config.mode : String(config.mode);
    if (config.mode === 'reject') return ['closed', 'Closed to new visitors · reject'];
    if (opens !== null && opens > Date.now()) return ['prequeue', `Pre-queue until ${formatLocalTime(opens)} · ${mode}`];
    if (config.paused === true) return ['paused', `Paused · ${mode}`];
    return ['open', `Open · ${mode}`];
  }

  function renderStats(room) {
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
    else els.eta.textContent = formatMinutes(waiting / rate);
  }

  // updateDirty marks edited fields ("(changed)" after the label, from
  // admin.css) and counts them next to the save button.
  function updateDirty(room) {
    let n = 0;
    for (const f of FIELDS) {
      const input = room.fields[f.name];
      const dirty = isEdited(input);
      input.closest('.field').toggleAttribute('data-dirty', dirty);
      if (dirty) n++;
    }
    room.els.dirtyCount.textContent = n ? `${n} unsaved change${n === 1 ? '' : 's'}` : '';
  }

  // A number field holding something that is not a number reads as "", so
  // badInput counts as an edit too.
  function isEdited(input) {
    return input.dataset.base !== undefined &&
      (input.value !== input.dataset.base || Boolean(input.validity && input.validity.badInput));
  }

  // ---- Changing a room --------------------------------------------------------

  // saveSettings sends the fields that differ from the server's config, and
  // only those, after checking them here first (the server checks again).
  async function saveSettings(room) {
    if (room.busy) return;
    clearErrors(room, FIELDS.map((f) => f.name));
    const patch = {};
    let firstBad = null;
    for (const f of FIELDS) {
      const input = room.fields[f.name];
      if (!isEdited(input)) continue;
      const result = parseField(f, input);
      if ('error' in result) {
        showFieldError(room, f.name, result.error);
        firstBad = firstBad || input;
      } else {
        patch[f.name] = result.value;
      }
    }
    if (firstBad) {
      setStatus(room.els.saveStatus, 'Not saved: correct the marked field first.', 'error');
      firstBad.focus();
      return;
    }
    if (Object.keys(patch).length === 0) {
      setStatus(room.els.saveStatus, 'Nothing to save: no field was changed.');
      return;
    }
    await putConfig(room, patch, room.els.saveStatus);
  }

  function discardChanges(room) {
    for (const f of FIELDS) {
      const input = room.fields[f.name];
      if (input.dataset.base !== undefined) input.value = input.dataset.base;
    }
    clearErrors(room, FIELDS.map((f) => f.name));
    updateDirty(room);
    setStatus(room.els.saveStatus, 'Changes discarded.');
  }

  function setPaused(room, paused) {
    const button = paused ? room.els.pause : room.els.resume;
    if (room.busy || button.getAttribute('aria-disabled') === 'true') return;
    clearErrors(room, ['paused']);
    putConfig(room, { paused }, room.els.pauseStatus);
  }

  function clearOpeningTime(room) {
    if (room.busy || room.els.clearOpens.getAttribute('aria-disabled') === 'true') return;
    clearErrors(room, ['opens_at']);
    putConfig(room, { opens_at: null }, room.els.saveStatus);
  }

  // putConfig sends PUT /api/admin/rooms/{room} with `patch` and shows the
  // outcome in `statusEl` (a role=status line). The new config shows at once.
  async function putConfig(room, patch, statusEl) {
    room.busy = true;
    setStatus(statusEl, 'Saving…');
    const fields = Object.keys(patch);
    const reply = await authed('PUT', roomPath(room.id), patch);
    room.busy = false;
    if (!reply) return;

    if ((reply.status === 200 || reply.status === 201) && reply.data && reply.data.config) {
      room.changedAt = performance.now();
      renderConfig(room, reply.data.config, fields);
      renderStats(room);
      clearErrors(room, fields);
      // 201: someone deleted the room meanwhile, and this PUT created it anew.
      const recreated = reply.status === 201 ? ' The room had been deleted, so this created it again.' : '';
      setStatus(statusEl, `Saved: ${describePatch(patch)}.${recreated}`, 'ok');
      return;
    }
    if (reply.status === 400 && errorCode(reply.data) === 'invalid_config') {
      // "nothing changed": the other fields stay as typed, ready to retry.
      const message = errorMessage(reply.data) || 'The server refused a value.';
      const field = fieldNamedIn(message, fields);
      if (field) {
        showFieldError(room, field, message);
        (room.fields[field] || room.els.pause).focus();
      }
      setStatus(statusEl, 'Not saved: ' + message, 'error');
      return;
    }
    setStatus(statusEl, 'Not saved: ' + describeFailure(reply), 'error');
  }

  // The server's message names the field ("Config field batch_size must
  // be…"); with a single field sent, it can only be that one.
  function fieldNamedIn(message, sent) {
    const named = ERROR_FIELDS.find((name) => new RegExp(`\\b${name}\\b`).test(message));
    if (named) return named;
    return sent.length === 1 ? sent[0] : null;
  }

  async function deleteRoom(room) {
    if (room.busy) return;
    const waiting = room.stats ? count(room.stats.waiting) : 0;
    const who = waiting === 0 ? 'Nobody is waiting in it right now.'
      : waiting === 1 ? 'The 1 visitor waiting loses the place.'
        : `The ${formatInt(waiting)} visitors waiting lose their place.`;
    if (!window.confirm(`Delete room "${room.id}"?\n\n${who} This cannot be undone.`)) return;

    room.busy = true;
    setStatus(room.els.deleteStatus, 'Deleting…');
    const reply = await authed('DELETE', roomPath(room.id));
    room.busy = false;
    if (!reply) return;
    // 404 room_not_found: already gone, which is what was asked.
    if (reply.status === 204 || (reply.status === 404 && errorCode(reply.data) === 'room_not_found')) {
      state.deletedAt.set(room.id, performance.now());
      removeRoom(room);
      ui.roomsTitle.focus();
      say(`Room ${room.id} deleted.`);
      return;
    }
    setStatus(room.els.deleteStatus, 'Not deleted: ' + describeFailure(reply), 'error');
  }

  // PUT with {} creates a room with the defaults (and changes nothing in a
  // room that exists).
  async function onCreate(event) {
    event.preventDefault();
    if (state.creating) return;
    const id = ui.createId.value.trim();
    if (!ROOM_ID.test(id)) {
      invalid(ui.createId, true);
      setStatus(ui.createStatus, id
        ? 'A room id is 1–64 characters of a–z, 0–9 and hyphens: no capitals, spaces or other signs.'
        : 'Enter a room id.', 'error');
      ui.createId.focus();
      return;
    }
    invalid(ui.createId, false);
    if (state.rooms.has(id)) {
      setStatus(ui.createStatus, `Room ${id} already exists; change its settings below.`, 'error');
      return;
    }

    state.creating = true;
    ui.createButton.setAttribute('aria-disabled', 'true');
    setStatus(ui.createStatus, `Creating ${id}…`);
    const reply = await authed('PUT', roomPath(id), {});
    state.creating = false;
    ui.createButton.setAttribute('aria-disabled', 'false');
    if (!reply) return;

    if ((reply.status === 200 || reply.status === 201) && reply.data && reply.data.config) {
      state.deletedAt.delete(id);
      const room = state.rooms.get(id) || addRoom(id);
      room.changedAt = performance.now();
      renderConfig(room, reply.data.config);
      renderStats(room);
      updateRoomCount();
      drawChart(room, Date.now());
      ui.createId.value = '';
      setStatus(ui.createStatus, reply.status === 201
        ? `Room ${id} created with the default settings.`
        : `Room ${id} already existed; nothing was changed.`, 'ok');
      return;
    }
    if (reply.status === 400) invalid(ui.createId, true);
    setStatus(ui.createStatus, 'Not created: ' + describeFailure(reply), 'error');
  }

  // ---- Parsing fields -----------------------------------------------------------

  // parseField turns an edited control into its JSON value: {value} or {error}.
  function parseField(f, input) {
    const text = input.value.trim();
    switch (f.kind) {
      case 'int': {
        const lo = Number(input.min);
        const hi = Number(input.max);
        if (input.validity.badInput || !/^-?\d+$/.test(text)) {
          return { error: `${f.label} must be a whole number from ${lo} to ${hi}.` };
        }
        const n = Number(text);
        if (n < lo || n > hi) return { error: `${f.label} must be between ${lo} and ${hi}.` };
        return { value: n };
      }
      case 'mode':
        return MODES.includes(text) ? { value: text } : { error: `${f.label} must be one of ${MODES.join(', ')}.` };
      case 'bool':
        return text === 'true' || text === 'false' ? { value: text === 'true' } : { error: `${f.label} must be yes or no.` };
      case 'url':
        if (!text) return { error: `${f.label} is required.` };
        if (text.length > Number(input.maxLength > 0 ? input.maxLength : 2048)) {
          return { error: `${f.label} must be at most ${input.maxLength} characters.` };
        }
        if (!isTargetURL(text)) return { error: `${f.label} must be a path starting with / or an http(s) URL.` };
        return { value: text };
      case 'time': {
        // An emptied field means "no opening time", like the clear button.
        if (!text && !input.validity.badInput) return { value: null };
        const ms = parseLocalInput(text);
        if (ms === null) return { error: `${f.label} is not a complete date and time.` };
        const year = new Date(ms).getUTCFullYear();
        if (year < 2000 || year > 2999) return { error: `${f.label} must be between the years 2000 and 2999.` };
        return { value: toRFC3339(ms) };
      }
      default:
        return { error: `${f.label} cannot be changed here.` };
    }
  }

  // The same rule as the server: a same-site path (not "//host") or an
  // absolute http(s) URL.
  function isTargetURL(text) {
    if (text.startsWith('/')) return !text.startsWith('//') && !text.includes('\\');
    try {
      const u = new URL(text);
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.host !== '';
    } catch {
      return false;
    }
  }

  // toInputValue: a config value as its control shows it.
  function toInputValue(f, value) {
    if (f.kind === 'time') {
      const ms = parseTime(value);
      return ms === null ? '' : toLocalInput(ms);
    }
    return value === undefined || value === null ? '' : String(value);
  }

  // A mode a newer server knows and this page does not still shows as itself.
  function ensureOption(select, value) {
    if (!value || [...select.options].some((o) => o.value === value)) return;
    select.add(new Option(value, value));
  }

  // datetime-local values are wall-clock times in the browser's time zone,
  // "YYYY-MM-DDTHH:MM" with optional seconds.
  function toLocalInput(ms) {
    const d = new Date(ms);
    const two = (n) => String(n).padStart(2, '0');
    let s = `${String(d.getFullYear()).padStart(4, '0')}-${two(d.getMonth() + 1)}-${two(d.getDate())}` +
      `T${two(d.getHours())}:${two(d.getMinutes())}`;
    if (d.getSeconds()) s += ':' + two(d.getSeconds());
    return s;
  }

  function parseLocalInput(text) {
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/.exec(text);
    if (!m) return null;
    const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v || 0));
    const date = new Date(y, mo - 1, d, h, mi, s);
    // Reject rollovers such as 31 February.
    if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d) return null;
    return date.getTime();
  }

  // RFC 3339 in UTC, without the milliseconds toISOString adds.
  function toRFC3339(ms) {
    return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
  }

  function parseTime(value) {
    if (typeof value !== 'string' || !value) return null;
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }

  function describePatch(patch) {
    const labels = Object.fromEntries(FIELDS.map((f) => [f.name, f.label.toLowerCase()]));
    return Object.entries(patch).map(([name, value]) => {
      if (name === 'paused') return value ? 'admissions paused' : 'admissions resumed';
      if (name === 'opens_at') return value === null ? 'opening time cleared' : `opening time ${value}`;
      return `${labels[name] || name} ${value}`;
    }).join(', ');
  }

  // ---- Field errors -----------------------------------------------------------

  function showFieldError(room, field, message) {
    const error = room.errors[field];
    if (error) error.textContent = message;
    const input = room.fields[field];
    if (input) invalid(input, true);
  }

  function clearErrors(room, fields) {
    for (const field of fields) {
      if (room.errors[field]) room.errors[field].textContent = '';
      if (room.fields[field]) invalid(room.fields[field], false);
    }
  }

  function invalid(input, bad) {
    if (bad) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  // ---- Chart ------------------------------------------------------------------

  function drawCharts() {
    const now = Date.now();
    for (const room of state.rooms.values()) drawChart(room, now);
  }

  // drawChart draws the last CHART_WINDOW_MS of a room's samples as SVG:
  // waiting (solid) and admitted (dashed), a dotted capacity line when it
  // fits, gridlines with labels on both axes. The SVG's viewBox is the card's
  // width in pixels, so text is drawn at its real size.
  function drawChart(room, now) {
    const { chart, chartWrap, chartSummary } = room.els;
    const from = now - CHART_WINDOW_MS;
    const samples = room.samples.filter((s) => s.t >= from);
    chartSummary.textContent = chartSummaryText(room, samples);

    const width = Math.floor(chartWrap.clientWidth);
    if (!width) return; // not laid out (hidden): the next refresh draws it
    const height = CHART_HEIGHT;
    const m = { top: 24, right: 14, bottom: 28, left: 44 };
    const w = Math.max(10, width - m.left - m.right);
    const h = height - m.top - m.bottom;

    let max = 0;
    for (const s of samples) max = Math.max(max, s.waiting, s.admitted);
    const { step, top } = niceScale(max);
    const x = (t) => m.left + ((t - from) / CHART_WINDOW_MS) * w;
    const y = (v) => m.top + h - (v / top) * h;
    const nodes = [];

    // Horizontal gridlines and the y axis labels.
    for (let v = 0; v <= top; v += step) {
      nodes.push(svg('line', { class: 'chart-grid', x1: m.left, x2: m.left + w, y1: y(v), y2: y(v) }));
      nodes.push(svg('text', { class: 'chart-label', x: m.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, formatCompact(v)));
    }
    nodes.push(svg('text', { class: 'chart-label', x: 0, y: 12, 'text-anchor': 'start' }, 'Visitors'));

    // Vertical gridlines every 2 minutes; labels at 10, 5 and 0 minutes ago.
    for (let minutes = 10; minutes >= 0; minutes -= 2) {
      const gx = x(now - minutes * 60000);
      nodes.push(svg('line', { class: 'chart-grid', x1: gx, x2: gx, y1: m.top, y2: m.top + h }));
    }
    for (const [minutes, anchor] of [[10, 'start'], [5, 'middle'], [0, 'end']]) {
      nodes.push(svg('text', {
        class: 'chart-label', x: x(now - minutes * 60000), y: height - 8, 'text-anchor': anchor,
      }, minutes ? `${minutes} min ago` : 'now'));
    }

    // Axes over the grid.
    nodes.push(svg('line', { class: 'chart-axis', x1: m.left, x2: m.left, y1: m.top, y2: m.top + h }));
    nodes.push(svg('line', { class: 'chart-axis', x1: m.left, x2: m.left + w, y1: m.top + h, y2: m.top + h }));

    const capacity = room.config && room.config.mode !== 'passthrough' ? count(room.config.capacity) : 0;
    if (capacity > 0 && capacity <= top) {
      nodes.push(svg('line', { class: 'chart-capacity', x1: m.left, x2: m.left + w, y1: y(capacity), y2: y(capacity) }));
    }

    for (const key of ['waiting', 'admitted']) {
      const d = seriesPath(samples, key, x, y);
      if (d) nodes.push(svg('path', { class: `chart-line chart-${key}`, d }));
      const last = samples[samples.length - 1];
      if (last) nodes.push(svg('circle', { class: `chart-dot-${key}`, cx: x(last.t), cy: y(last[key]), r: 3.5 }));
    }

    chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
    chart.setAttribute('width', String(width));
    chart.setAttribute('height', String(height));
    chart.replaceChildren(...nodes);
  }

  // seriesPath joins samples with lines, except across a gap (the tab slept
  // or the server was unreachable), where the line breaks. "l0 0" draws a
  // lone sample as a dot (the line caps are round).
  function seriesPath(samples, key, x, y) {
    let d = '';
    let prev = -Infinity;
    for (const s of samples) {
      const px = x(s.t).toFixed(1);
      const py = y(s[key]).toFixed(1);
      d += s.t - prev > CHART_GAP_MS ? `M${px} ${py}l0 0` : `L${px} ${py}`;
      prev = s.t;
    }
    return d;
  }

  // niceScale picks a y axis top that is a whole number of steps, each step
  // 1, 2 or 5 times a power of ten, and never a fraction of a visitor.
  function niceScale(max) {
    if (!(max > 0)) return { step: 1, top: 4 };
    const raw = max / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const step = Math.max(1, [1, 2, 5, 10].map((k) => k * magnitude).find((s) => s >= raw));
    return { step, top: step * Math.max(1, Math.ceil(max / step)) };
  }

  // The chart's text alternative (the SVG's aria-describedby).
  function chartSummaryText(room, samples) {
    if (samples.length === 0) {
      return 'No figures yet: the chart fills in every 2 seconds while this page is open.';
    }
    const last = samples[samples.length - 1];
    let peakWaiting = 0;
    let lowWaiting = Infinity;
    let peakAdmitted = 0;
    for (const s of samples) {
      peakWaiting = Math.max(peakWaiting, s.waiting);
      lowWaiting = Math.min(lowWaiting, s.waiting);
      peakAdmitted = Math.max(peakAdmitted, s.admitted);
    }
    const span = formatDuration(Math.max(1000, last.t - samples[0].t));
    const total = room.stats && room.stats.admitted_total != null
      ? ` ${formatInt(count(room.stats.admitted_total))} admitted since the room began.`
      : '';
    return `Over the last ${span}: waiting now ${formatInt(last.waiting)} (high ${formatInt(peakWaiting)}, ` +
      `low ${formatInt(lowWaiting)}); admitted now ${formatInt(last.admitted)} (high ${formatInt(peakAdmitted)}).${total}`;
  }

  function svg(name, attrs, text) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs)) {
      el.setAttribute(key, typeof value === 'number' ? String(Math.round(value * 10) / 10) : value);
    }
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // ---- HTTP ---------------------------------------------------------------------

  // api makes a same-origin JSON request with the token and returns
  // {status, data, retryAfter}. It never throws: a network error or a
  // timeout is status 0; data is null when the body is not JSON.
  async function api(method, path, body) {
    const init = {
      method,
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
    };
    if (state.token) init.headers.Authorization = 'Bearer ' + state.token;
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (typeof AbortSignal !== 'undefined' && AbortSignal.timeout) {
      init.signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      return { status: 0, data: null, retryAfter: null };
    }
    let data = null;
    if (res.status !== 204) {
      try {
        data = await res.json();
      } catch {
        // Empty, cut off, or not JSON (a proxy's error page).
      }
    }
    return { status: res.status, data, retryAfter: res.headers.get('Retry-After') };
  }

  // authed is api() for a signed-in page. It returns null when the caller
  // should stop: the token was refused (and the page asks for it again), or
  // the operator signed out or in again while the request was out.
  async function authed(method, path, body) {
    const gen = state.gen;
    const reply = await api(method, path, body);
    if (gen !== state.gen) return null;
    if (reply.status === 401) {
      tokenRefused();
      return null;
    }
    return reply;
  }

  function roomPath(id) {
    return '/api/admin/rooms/' + encodeURIComponent(id);
  }

  function errorCode(data) {
    return data && data.error && typeof data.error.code === 'string' ? data.error.code : '';
  }

  function errorMessage(data) {
    return data && data.error && typeof data.error.message === 'string' ? data.error.message : '';
  }

  // describeFailure: one sentence for a failed reply.
  function describeFailure(reply) {
    if (!reply || reply.status === 0) return 'the server could not be reached.';
    const message = errorMessage(reply.data);
    if (message) return message;
    return `the server answered HTTP ${reply.status}.`;
  }

  // Retry-After is seconds or an HTTP date; without one, wait 5 s.
  function retryAfterMs(header) {
    let ms = NaN;
    if (header && /^\s*\d+\s*$/.test(header)) ms = Number(header) * 1000;
    else if (header) ms = Date.parse(header) - Date.now();
    if (!Number.isFinite(ms)) ms = 5000;
    return Math.min(300000, Math.max(1000, ms));
  }

  // ---- Status lines and announcements -----------------------------------------

  // setStatus fills a role=status line; `kind` ('ok' or 'error') colours it
  // through admin.css, and the words say the same.
  function setStatus(el, text, kind = '') {
    el.textContent = text;
    if (kind) el.dataset.kind = kind;
    else delete el.dataset.kind;
  }

  // say puts text in the page's live region. Emptying it first makes a
  // screen reader announce the text even if it equals the previous one.
  function say(text) {
    ui.announcer.textContent = '';
    setTimeout(() => { ui.announcer.textContent = text; }, 100);
  }

  // setConn updates the status line under the heading; null hides it. It is
  // not a live region: it changes every 2 s.
  function setConn(kind, text = '') {
    ui.conn.hidden = kind === null;
    if (kind === null) return;
    ui.conn.dataset.state = kind;
    ui.connText.textContent = text;
  }

  // ---- Formatting ---------------------------------------------------------------

  // count reads a non-negative whole number from the API, 0 if missing.
  function count(value) {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
  }

  function formatInt(n) {
    return Number(n).toLocaleString();
  }

  // formatCompact: axis labels, 950, 1.2k, 15k, 1.5M.
  function formatCompact(n) {
    if (n < 1000) return String(n);
    if (n < 1e6) return `${Number((n / 1000).toFixed(n < 10000 ? 1 : 0))}k`;
    return `${Number((n / 1e6).toFixed(n < 1e7 ? 1 : 0))}M`;
  }

  function formatMinutes(minutes) {
    if (minutes < 1) return 'under 1 min';
    const total = Math.round(minutes);
    if (total < 60) return `about ${total} min`;
    const h = Math.floor(total / 60);
    const m = total % 60;
    return m ? `about ${h} h ${m} min` : `about ${h} h`;
  }

  function formatDuration(ms) {
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

  function formatLocalTime(ms) {
    const date = new Date(ms);
    try {
      return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    } catch {
      return date.toLocaleString();
    }
  }

  function clockTime(date) {
    try {
      return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    } catch {
      return date.toLocaleTimeString();
    }
  }

  // ---- Start --------------------------------------------------------------
  // Last, so every const above is initialised before use.

  ui.signinForm.addEventListener('submit', onSignIn);
  ui.token.addEventListener('input', () => invalid(ui.token, false));
  ui.signOut.addEventListener('click', signOut);
  ui.createForm.addEventListener('submit', onCreate);
  ui.createId.addEventListener('input', () => invalid(ui.createId, false));
  window.addEventListener('resize', () => {
    cancelAnimationFrame(state.resizeFrame);
    state.resizeFrame = requestAnimationFrame(drawCharts);
  });

  const saved = tokenStore.get();
  if (saved) {
    // A token from earlier in this tab: go straight to the rooms. The first
    // refresh checks it; a 401 brings the sign-in form back.
    state.gen++;
    state.token = saved;
    showDashboard();
    setConn('connecting', 'Checking the saved token…');
    startPolling();
  } else {
    showSignIn();
  }
})();
