/*
 * fields.js: a room's settings as the form holds them: which fields there
 * are, how a control's text becomes a config value (checked here as the
 * server checks it, which checks again) and how a value is shown.
 */

import { t } from '../lib/i18n.js';
import { el } from './page.js';

// MODES are the room modes of docs/API.md.
export const MODES = ['auto', 'queue_all', 'passthrough', 'reject'];

// FIELDS is the settings form, in docs/API.md's field names and in the
// order it shows them; fieldControl builds each one's control. An integer
// field's limits (docs/API.md's) become its input's min and max, which
// parseField reads back. fieldLabel(f) is how messages name the field.
export const FIELDS = [
  { name: 'batch_size', kind: 'int', min: 1, max: 10000 },
  { name: 'interval_ms', kind: 'int', min: 100, max: 900000 },
  { name: 'capacity', kind: 'int', min: 0, max: 2147483647 },
  { name: 'session_ttl_s', kind: 'int', min: 10, max: 86400 },
  { name: 'mode', kind: 'mode' },
  { name: 'abandon_after_s', kind: 'int', min: 0, max: 2147483647 },
  { name: 'target_url', kind: 'url' },
  { name: 'pow_work', kind: 'int', min: 0, max: 10000000 },
  { name: 'arrive_within_s', kind: 'int', min: 0, max: 3600 },
  { name: 'require_user', kind: 'bool' },
  // `id`: the control's id suffix where the name would clash with the card's
  // own ids (r-<room>-title is the card's heading). `max`: characters.
  { name: 'title', kind: 'text', id: 'room_title', max: 100 },
  { name: 'message', kind: 'text', max: 1000, rows: 3 },
  { name: 'opens_at', kind: 'time' },
];

// fieldBlock builds field f's part of the settings form: its label,
// control, hint and error line (card.js ties them together by id).
export function fieldBlock(f) {
  const wide = f.kind === 'url' || f.kind === 'text' || f.kind === 'time';
  const block = el('div', { class: wide ? 'field field-wide' : 'field' });
  const label = el('label', { 'data-for': f.name, 'data-i18n': `admin.field.${f.name}.label` });
  const hint = el('p', { class: 'hint', 'data-hint': f.name, 'data-i18n': `admin.field.${f.name}.hint` });
  const error = el('p', { class: 'field-error', 'data-error': f.name });
  if (f.kind !== 'time') {
    block.append(label, fieldControl(f), hint, error);
    return block;
  }
  // The opening time has a clear button beside it and a line saying when
  // that is in words.
  const row = el('div', { class: 'inline-row' });
  row.append(fieldControl(f), el('button', {
    type: 'button', class: 'button-secondary', 'data-part': 'clear-opens', 'data-i18n': 'admin.part.clearOpens',
  }));
  block.append(label, row, hint, el('p', { class: 'hint', 'data-part': 'opens-text' }), error);
  return block;
}

function fieldControl(f) {
  const field = { 'data-field': f.name };
  switch (f.kind) {
    case 'int':
      return el('input', { ...field, type: 'number', inputmode: 'numeric', min: f.min, max: f.max, step: 1, required: '' });
    case 'mode':
      return choices(field, MODES.map((m) => [m, `admin.option.mode.${m}`]));
    case 'bool':
      return choices(field, [['false', 'admin.option.requireUser.false'], ['true', 'admin.option.requireUser.true']]);
    case 'url':
      return el('input', {
        ...field, type: 'text', inputmode: 'url', maxlength: 2048, required: '',
        autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
      });
    case 'text':
      return f.rows
        ? el('textarea', { ...field, rows: f.rows, 'data-max': f.max })
        : el('input', { ...field, type: 'text', 'data-max': f.max, autocomplete: 'off' });
    default: // 'time'
      return el('input', { ...field, type: 'datetime-local', min: '2000-01-01T00:00', max: '2999-12-31T23:59' });
  }
}

// choices is a <select> of [value, label key] options.
function choices(attrs, options) {
  const select = el('select', attrs);
  for (const [value, key] of options) select.append(el('option', { value, 'data-i18n': key }));
  return select;
}

// fieldLabel is how messages name field f, in the page's language.
export function fieldLabel(f) {
  return t('admin.label.' + f.name);
}

// ERROR_FIELDS is every field a server message can name; paused has
// buttons, not an input.
export const ERROR_FIELDS = FIELDS.map((f) => f.name).concat('paused');

// parseField turns an edited control into its JSON value: {value} or {error}.
export function parseField(f, input) {
  const text = input.value.trim();
  const field = fieldLabel(f);
  switch (f.kind) {
    case 'int': {
      const lo = Number(input.min);
      const hi = Number(input.max);
      if (input.validity.badInput || !/^-?\d+$/.test(text)) {
        return { error: t('admin.err.whole', { field, lo, hi }) };
      }
      const n = Number(text);
      if (n < lo || n > hi) return { error: t('admin.err.between', { field, lo, hi }) };
      return { value: n };
    }
    case 'mode':
      return MODES.includes(text) ? { value: text } : { error: t('admin.err.oneOf', { field, list: MODES.join(', ') }) };
    case 'bool':
      return text === 'true' || text === 'false' ? { value: text === 'true' } : { error: t('admin.err.yesNo', { field }) };
    case 'url':
      if (!text) return { error: t('admin.err.required', { field }) };
      if (text.length > Number(input.maxLength > 0 ? input.maxLength : 2048)) {
        return { error: t('admin.err.atMost', { field, n: input.maxLength }) };
      }
      if (!isTargetURL(text)) return { error: t('admin.err.url', { field }) };
      return { value: text };
    case 'text': {
      // Plain text, counted in characters as the server counts them (a
      // Korean syllable is one); the waiting page shows it as text.
      const max = Number(input.dataset.max);
      const value = input.value.trim();
      if ([...value].length > max) return { error: t('admin.err.atMost', { field, n: max }) };
      // eslint-disable-next-line no-control-regex
      const control = f.name === 'message' ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/ : /[\u0000-\u001f\u007f-\u009f]/;
      if (control.test(value)) return { error: t('admin.err.control', { field }) };
      return { value };
    }
    case 'time': {
      // An emptied field means "no opening time", like the clear button.
      if (!text && !input.validity.badInput) return { value: null };
      const ms = parseLocalInput(text);
      if (ms === null) return { error: t('admin.err.dateTime', { field }) };
      const year = new Date(ms).getUTCFullYear();
      if (year < 2000 || year > 2999) return { error: t('admin.err.years', { field }) };
      return { value: toRFC3339(ms) };
    }
    default:
      return { error: t('admin.err.unknown', { field }) };
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
export function toInputValue(f, value) {
  if (f.kind === 'time') {
    const ms = parseTime(value);
    return ms === null ? '' : toLocalInput(ms);
  }
  return value === undefined || value === null ? '' : String(value);
}

// A mode a newer server knows and this page does not still shows as itself.
export function ensureOption(select, value) {
  if (!value || [...select.options].some((o) => o.value === value)) return;
  select.add(new Option(value, value));
}

// A number field holding something that is not a number reads as "", so
// badInput counts as an edit too.
export function isEdited(input) {
  return input.dataset.base !== undefined &&
    (input.value !== input.dataset.base || Boolean(input.validity && input.validity.badInput));
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

// parseTime reads an RFC 3339 config time: ms since the epoch, or null.
export function parseTime(value) {
  if (typeof value !== 'string' || !value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

// describePatch says in words what a saved patch changed.
export function describePatch(patch) {
  const labels = Object.fromEntries(FIELDS.map((f) => [f.name, fieldLabel(f)]));
  return Object.entries(patch).map(([name, value]) => {
    if (name === 'paused') return t(value ? 'admin.patch.paused' : 'admin.patch.resumed');
    if (name === 'opens_at') return value === null ? t('admin.patch.opensCleared') : t('admin.patch.opens', { value });
    if (name === 'title' || name === 'message') {
      return t(value === '' ? 'admin.patch.textCleared' : 'admin.patch.textSet', { field: labels[name] });
    }
    return t('admin.patch.value', { field: labels[name] || name, value: String(value) });
  }).join(t('admin.patch.separator'));
}
