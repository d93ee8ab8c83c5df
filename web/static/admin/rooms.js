/*
 * rooms.js: the list of room cards: kept in step with each listing,
 * created and deleted from this page, and in room-id order.
 */
import { errorCode } from '../lib/api.js';
import { validRoomId } from '../lib/base.js';
import { t } from '../lib/i18n.js';
import { count, deleteRoom as deleteOnServer, describeFailure, putRoom } from './api.js';
import { newCard } from './card.js';
import { addSample, drawChart } from './chart.js';
import { renderHistory } from './history.js';
import { invalid, say, setStatus, ui } from './page.js';
import { renderConfig } from './settings.js';
import { renderStats } from './stats.js';

const list = {
  rooms: new Map(), // room id → room record (see card.js)
  // Rooms this page deleted, and when (performance.now()): a listing that
  // was already on its way must not bring them back.
  deletedAt: new Map(),
  loaded: false, // the room list has arrived at least once
  creating: false,
};

// applyRooms takes a room listing that was requested at `startedAt`. A room
// this page changed after that moment keeps what the change returned: the
// listing is older news, and would flash the old config back for 2 s.
export function applyRooms(items, startedAt) {
  const now = Date.now();
  const listed = new Set();
  for (const item of items) {
    if (!item || !validRoomId(item.room)) continue;
    const id = item.room;
    listed.add(id);
    const deletedAt = list.deletedAt.get(id);
    if (deletedAt !== undefined && deletedAt > startedAt) continue;
    const room = list.rooms.get(id) || addRoom(id);
    if (room.changedAt <= startedAt) renderConfig(room, item.config);
    if (item.stats && typeof item.stats === 'object') {
      room.stats = item.stats;
      addSample(room, now, item.stats);
    }
    renderStats(room);
  }
  for (const room of [...list.rooms.values()]) {
    // Gone from the listing: deleted elsewhere (unless created here since).
    if (!listed.has(room.id) && room.changedAt <= startedAt) {
      removeRoom(room);
      say(t('admin.room.gone', { room: room.id }));
    }
  }
  // A deletion older than this listing is in it already.
  for (const [id, at] of list.deletedAt) {
    if (at <= startedAt) list.deletedAt.delete(id);
  }
  list.loaded = true;
  updateRoomCount();
  drawCharts();
}

// drawCharts redraws every room's chart, say after the window was resized.
export function drawCharts() {
  const now = Date.now();
  for (const room of list.rooms.values()) {
    drawChart(room, now);
    renderHistory(room);
  }
}

function addRoom(id) {
  const room = newCard(id, { onDelete: deleteRoom });
  let before = null;
  for (const other of list.rooms.values()) {
    if (other.id > id && (!before || other.id < before.id)) before = other;
  }
  ui.rooms.insertBefore(room.card, before ? before.card : null);
  list.rooms.set(id, room);
  return room;
}

function removeRoom(room) {
  const hadFocus = room.card.contains(document.activeElement);
  room.card.remove();
  list.rooms.delete(room.id);
  if (hadFocus) ui.roomsTitle.focus();
  updateRoomCount();
}

// clearRooms empties the list, as after signing out.
export function clearRooms() {
  list.rooms.clear();
  list.deletedAt.clear();
  list.loaded = false;
  ui.rooms.replaceChildren();
  updateRoomCount();
}

export function updateRoomCount() {
  const n = list.rooms.size;
  ui.roomsTitle.textContent = n ? t('admin.rooms.count', { n }) : t('admin.roomsTitle');
  ui.roomsEmpty.hidden = n > 0;
  ui.roomsEmpty.textContent = t(list.loaded ? 'admin.rooms.none' : 'admin.rooms.loading');
}

export function roomCountText() {
  const n = list.rooms.size;
  return t('admin.rooms.n', { n });
}

async function deleteRoom(room) {
  if (room.busy) return;
  const waiting = room.stats ? count(room.stats.waiting) : 0;
  const who = waiting === 0 ? t('admin.delete.nobody') : t('admin.delete.who', { n: waiting });
  if (!window.confirm(t('admin.delete.confirm', { room: room.id, who }))) return;

  room.busy = true;
  setStatus(room.els.deleteStatus, t('admin.delete.deleting'));
  const reply = await deleteOnServer(room.id);
  room.busy = false;
  if (!reply) return;
  // 404 room_not_found: already gone, which is what was asked.
  if (reply.status === 204 || (reply.status === 404 && errorCode(reply.data) === 'room_not_found')) {
    list.deletedAt.set(room.id, performance.now());
    removeRoom(room);
    ui.roomsTitle.focus();
    say(t('admin.delete.done', { room: room.id }));
    return;
  }
  setStatus(room.els.deleteStatus, t('admin.delete.failed', { reason: describeFailure(reply) }), 'error');
}

// onCreate handles the create form. PUT with {} creates a room with the
// defaults (and changes nothing in a room that exists).
export async function onCreate(event) {
  event.preventDefault();
  if (list.creating) return;
  const id = ui.createId.value.trim();
  if (!validRoomId(id)) {
    invalid(ui.createId, true);
    setStatus(ui.createStatus, id
      ? t('admin.create.badId')
      : t('admin.create.noId'), 'error');
    ui.createId.focus();
    return;
  }
  invalid(ui.createId, false);
  if (list.rooms.has(id)) {
    setStatus(ui.createStatus, t('admin.create.exists', { room: id }), 'error');
    return;
  }

  list.creating = true;
  ui.createButton.setAttribute('aria-disabled', 'true');
  setStatus(ui.createStatus, t('admin.create.creating', { room: id }));
  const reply = await putRoom(id, {});
  list.creating = false;
  ui.createButton.setAttribute('aria-disabled', 'false');
  if (!reply) return;

  if ((reply.status === 200 || reply.status === 201) && reply.data && reply.data.config) {
    list.deletedAt.delete(id);
    const room = list.rooms.get(id) || addRoom(id);
    room.changedAt = performance.now();
    renderConfig(room, reply.data.config);
    renderStats(room);
    updateRoomCount();
    drawChart(room, Date.now());
    ui.createId.value = '';
    setStatus(ui.createStatus, reply.status === 201
      ? t('admin.create.created', { room: id })
      : t('admin.create.existed', { room: id }), 'ok');
    return;
  }
  if (reply.status === 400) invalid(ui.createId, true);
  setStatus(ui.createStatus, t('admin.create.failed', { reason: describeFailure(reply) }), 'error');
}
