/*
 * page.js: the operator page's fixed elements (admin.html) and the helpers
 * that write to them: status lines, the live region, the connection line
 * and field validity.
 */
import { announcer } from '../lib/announce.js';
import { showConn } from '../lib/conn.js';

const byId = (id) => document.getElementById(id);

// ui holds the page's elements, looked up once.
export const ui = {
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
export function part(root, name) {
  return root.querySelector(`[data-part="${name}"]`);
}

// el makes an element with attributes (a number is written as its text).
export function el(name, attrs = {}) {
  const e = document.createElement(name);
  for (const [key, value] of Object.entries(attrs)) e.setAttribute(key, String(value));
  return e;
}

// fillStats fills the <dl> with one figure per [name, label key] of items:
// its label and a dd marked attr="name" (showing – until known). It
// returns the dds by name.
export function fillStats(dl, items, attr) {
  const dds = {};
  for (const [name, key] of items) {
    const stat = el('div', { class: 'stat' });
    const dd = el('dd', { [attr]: name });
    dd.textContent = '–';
    stat.append(el('dt', { 'data-i18n': key }), dd);
    dl.append(stat);
    dds[name] = dd;
  }
  return dds;
}

// setStatus fills a role=status line; `kind` ('ok' or 'error') colours it
// through admin.css, and the words say the same.
export function setStatus(el, text, kind = '') {
  el.textContent = text;
  if (kind) el.dataset.kind = kind;
  else delete el.dataset.kind;
}

// say puts text in the page's live region, for events that happen away
// from the focused control.
export const say = announcer(ui.announcer);

// setConn updates the status line under the heading; null hides it. It
// changes every 2 s, so it is not a live region.
export function setConn(kind, text = '') {
  showConn(ui.conn, ui.connText, kind, text);
}

// invalid marks a control as holding a bad value, or not.
export function invalid(input, bad) {
  if (bad) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
}
