/*
 * admin.js: the operator page, served at /admin.
 *
 * Sign in with the operator token, then watch every room (GET
 * /api/admin/rooms every 2 s), draw the last 10 minutes of each room from
 * the figures this page has collected, and change rooms (PUT and DELETE
 * /api/admin/rooms/{room}). The contract is docs/API.md, "Operator API".
 *
 * This module wires the page; the work is in admin/:
 *   page.js      the page's elements, status lines, live region, figures
 *   api.js       the operator API calls and the token in memory
 *   session.js   signing in and out, the token in the tab's sessionStorage
 *   poll.js      the room list every 2 s, and backing off
 *   rooms.js     the list of room cards: listing, creating, deleting
 *   card.js      one room's card from the <template>
 *   settings.js  a room's config form: showing, editing, saving
 *   fields.js    the config fields: their controls, parsing and checking values
 *   stats.js     a room's figures
 *   chart.js     the 10-minute SVG chart and its text alternative
 *   history.js   the sale's history from the server: charts, tables, CSV
 *   svg.js       what both charts draw with
 *
 * No framework and no build step: ES modules, shared ones in lib/. The page
 * runs under a strict "default-src 'self'" policy: no inline handlers, no
 * eval, no style attributes. Every URL comes from lib/base.js, so the page
 * works under a path prefix too.
 */
import { languageSwitch, t, translate } from './lib/i18n.js';
import { invalid, ui } from './admin/page.js';
import { onRooms } from './admin/poll.js';
import { applyRooms, drawCharts, onCreate } from './admin/rooms.js';
import { onSignIn, signOut, startSession } from './admin/session.js';

let resizeFrame = 0;

ui.signinForm.addEventListener('submit', onSignIn);
ui.token.addEventListener('input', () => invalid(ui.token, false));
ui.signOut.addEventListener('click', signOut);
ui.createForm.addEventListener('submit', onCreate);
ui.createId.addEventListener('input', () => invalid(ui.createId, false));
window.addEventListener('resize', () => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(drawCharts);
});

translate();
document.title = t('admin.title');
languageSwitch(document.getElementById('lang-switch'));
onRooms(applyRooms);
startSession();
