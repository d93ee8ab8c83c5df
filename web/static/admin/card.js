/*
 * card.js: one room's card, cloned from admin.html's <template>, its
 * figures and settings fields built (fields.js), its controls tied to their
 * labels, hints and errors and wired to the settings form.
 */
import { pathFor } from '../lib/base.js';
import { t, translate } from '../lib/i18n.js';
import { ERROR_FIELDS, FIELDS, fieldBlock } from './fields.js';
import { fillStats, part, ui } from './page.js';
import { setupHistory } from './history.js';
import { clearOpeningTime, discardChanges, saveSettings, setPaused, updateDirty } from './settings.js';

// STATS are the live figures of a card: the element each fills, its label.
const STATS = [
  ['waiting', 'admin.waiting'],
  ['admitted', 'admin.admitted'],
  ['rate', 'admin.admittedPerMinute'],
  ['oldest', 'admin.oldestWait'],
  ['eta', 'admin.estimatedWaitAtThe'],
];

// newCard builds the record of room `id` around a fresh card; onDelete(room)
// runs when its delete button is pressed. Controls get ids r-<room>-<field>
// (room ids are a-z, 0-9 and '-', so these are safe ids). The caller puts
// room.card in the page.
export function newCard(id, { onDelete }) {
  const card = ui.template.content.firstElementChild.cloneNode(true);
  const stats = fillStats(part(card, 'stats'), STATS, 'data-part');
  part(card, 'fields').append(...FIELDS.map(fieldBlock));
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
      ...stats, // waiting, admitted, rate, oldest, eta
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
  const page = pathFor('rooms/' + id);
  els.pageLink.href = page;
  translate(card);
  els.pageLink.textContent = t('admin.pageLink', { page });
  els.chartSummary.id = prefix + '-chart-summary';
  els.chart.setAttribute('aria-label', t('admin.chartLabel', { room: id }));
  els.chart.setAttribute('aria-describedby', els.chartSummary.id);

  for (const name of ERROR_FIELDS) {
    const error = card.querySelector(`[data-error="${name}"]`);
    error.id = `${prefix}-${name}-error`;
    room.errors[name] = error;
  }
  for (const f of FIELDS) {
    const input = card.querySelector(`[data-field="${f.name}"]`);
    input.id = `${prefix}-${f.id || f.name}`;
    const label = card.querySelector(`[data-for="${f.name}"]`);
    label.htmlFor = input.id;
    label.dataset.changed = t('admin.changed');
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
  els.del.addEventListener('click', () => onDelete(room));
  setupHistory(room);
  return room;
}
