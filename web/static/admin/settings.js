/*
 * settings.js: a room card's config form: showing the server's config
 * without undoing the operator's typing, marking what was edited, and
 * saving only real changes (PUT /api/admin/rooms/{room}) with the server's
 * verdict shown next to the field it names.
 */
import { errorCode, errorMessage } from '../lib/api.js';
import { fmt, t } from '../lib/i18n.js';
import { describeFailure, putRoom } from './api.js';
import {
  ERROR_FIELDS, FIELDS, MODES, describePatch, ensureOption, isEdited, parseField, parseTime, toInputValue,
} from './fields.js';
import { invalid, setStatus } from './page.js';
import { renderStats } from './stats.js';

// renderConfig shows a room's config. A field the operator has edited but
// not saved keeps the edit (a refresh must not undo typing); its "base",
// the server's value, still moves on, so saving sends only real changes.
// Fields in `saved` were just saved: they take the server's value.
export function renderConfig(room, config, saved = []) {
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
    ? t('admin.state.pausedText')
    : t('admin.state.runningText');
  // aria-disabled rather than disabled: the button just pressed keeps focus.
  els.pause.setAttribute('aria-disabled', String(paused));
  els.resume.setAttribute('aria-disabled', String(!paused));

  const opens = parseTime(config.opens_at);
  els.clearOpens.setAttribute('aria-disabled', String(opens === null));
  if (opens === null) {
    els.opensText.textContent = t('admin.opens.none');
  } else {
    const left = opens - Date.now();
    els.opensText.textContent = t('admin.opens.set', { utc: config.opens_at, local: fmt.dateTime(opens) }) + ' ' +
      (left > 0 ? t('admin.opens.in', { left: fmt.span(left) }) : t('admin.opens.passed'));
  }

  const [kind, text] = roomState(config, opens);
  els.state.dataset.state = kind;
  els.state.textContent = text;
}

// The state words of docs/API.md's GET /api/rooms/{room}, worked out here from
// the config, plus the mode.
function roomState(config, opens) {
  const mode = MODES.includes(config.mode) ? config.mode : String(config.mode);
  if (config.mode === 'reject') return ['closed', t('admin.state.closed')];
  if (opens !== null && opens > Date.now()) return ['prequeue', t('admin.state.prequeue', { time: fmt.dateTime(opens), mode })];
  if (config.paused === true) return ['paused', t('admin.state.paused', { mode })];
  return ['open', t('admin.state.open', { mode })];
}

// updateDirty marks edited fields ("(changed)" after the label, from
// admin.css) and counts them next to the save button.
export function updateDirty(room) {
  let n = 0;
  for (const f of FIELDS) {
    const input = room.fields[f.name];
    const dirty = isEdited(input);
    input.closest('.field').toggleAttribute('data-dirty', dirty);
    if (dirty) n++;
  }
  room.els.dirtyCount.textContent = n ? t('admin.dirty', { n }) : '';
}

// saveSettings sends the fields that differ from the server's config, and
// only those, after checking them here first (the server checks again).
export async function saveSettings(room) {
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
    setStatus(room.els.saveStatus, t('admin.save.fixFirst'), 'error');
    firstBad.focus();
    return;
  }
  if (Object.keys(patch).length === 0) {
    setStatus(room.els.saveStatus, t('admin.save.nothing'));
    return;
  }
  await putConfig(room, patch, room.els.saveStatus);
}

export function discardChanges(room) {
  for (const f of FIELDS) {
    const input = room.fields[f.name];
    if (input.dataset.base !== undefined) input.value = input.dataset.base;
  }
  clearErrors(room, FIELDS.map((f) => f.name));
  updateDirty(room);
  setStatus(room.els.saveStatus, t('admin.save.discarded'));
}

export function setPaused(room, paused) {
  const button = paused ? room.els.pause : room.els.resume;
  if (room.busy || button.getAttribute('aria-disabled') === 'true') return;
  clearErrors(room, ['paused']);
  putConfig(room, { paused }, room.els.pauseStatus);
}

export function clearOpeningTime(room) {
  if (room.busy || room.els.clearOpens.getAttribute('aria-disabled') === 'true') return;
  clearErrors(room, ['opens_at']);
  putConfig(room, { opens_at: null }, room.els.saveStatus);
}

// putConfig sends PUT /api/admin/rooms/{room} with `patch` and shows the
// outcome in `statusEl` (a role=status line). The new config shows at once.
async function putConfig(room, patch, statusEl) {
  room.busy = true;
  setStatus(statusEl, t('admin.save.saving'));
  const fields = Object.keys(patch);
  const reply = await putRoom(room.id, patch);
  room.busy = false;
  if (!reply) return;

  if ((reply.status === 200 || reply.status === 201) && reply.data && reply.data.config) {
    room.changedAt = performance.now();
    renderConfig(room, reply.data.config, fields);
    renderStats(room);
    clearErrors(room, fields);
    // 201: someone deleted the room meanwhile, and this PUT created it anew.
    const recreated = reply.status === 201 ? ' ' + t('admin.save.recreated') : '';
    setStatus(statusEl, t('admin.save.saved', { what: describePatch(patch) }) + recreated, 'ok');
    return;
  }
  if (reply.status === 400 && errorCode(reply.data) === 'invalid_config') {
    // "nothing changed": the other fields stay as typed, ready to retry.
    const message = errorMessage(reply.data) || t('admin.save.refused');
    const field = fieldNamedIn(message, fields);
    if (field) {
      showFieldError(room, field, message);
      (room.fields[field] || room.els.pause).focus();
    }
    setStatus(statusEl, t('admin.save.failed', { reason: message }), 'error');
    return;
  }
  setStatus(statusEl, t('admin.save.failed', { reason: describeFailure(reply) }), 'error');
}

// The server's message names the field ("Config field batch_size must
// be…"); with a single field sent, it can only be that one.
function fieldNamedIn(message, sent) {
  const named = ERROR_FIELDS.find((name) => new RegExp(`\\b${name}\\b`).test(message));
  if (named) return named;
  return sent.length === 1 ? sent[0] : null;
}

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
