/*
 * fields.js: a room's settings as the form holds them: which fields there
 * are, how a control's text becomes a config value (checked here as the
 * server checks it, which checks again) and how a value is shown.
 */

// MODES are the room modes of docs/API.md.
export const MODES = ['auto', 'queue_all', 'passthrough', 'reject'];

// FIELDS is the settings form, in docs/API.md's field names. Integer fields
// take their limits from the input's min and max in admin.html, so the
// limits live in one place. `label` is how messages name the field.
export const FIELDS = [
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
  // `id`: the control's id suffix where the name would clash with the card's
  // own ids (r-<room>-title is the card's heading).
  { name: 'title', kind: 'text', label: 'Title', id: 'room_title' },
  { name: 'message', kind: 'text', label: 'Message' },
];

// ERROR_FIELDS is every field a server message can name; paused has
// buttons, not an input.
export const ERROR_FIELDS = FIELDS.map((f) => f.name).concat('paused');

// parseField turns an edited control into its JSON value: {value} or {error}.
export function parseField(f, input) {
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
    case 'text': {
      // Plain text, counted in characters as the server counts them (a
      // Korean syllable is one); the waiting page shows it as text.
      const max = Number(input.dataset.max);
      const value = input.value.trim();
      if ([...value].length > max) return { error: `${f.label} must be at most ${max} characters.` };
      // eslint-disable-next-line no-control-regex
      const control = f.name === 'message' ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/ : /[\u0000-\u001f\u007f-\u009f]/;
      if (control.test(value)) return { error: `${f.label} must not contain control characters.` };
      return { value };
    }
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
  const labels = Object.fromEntries(FIELDS.map((f) => [f.name, f.label.toLowerCase()]));
  return Object.entries(patch).map(([name, value]) => {
    if (name === 'paused') return value ? 'admissions paused' : 'admissions resumed';
    if (name === 'opens_at') return value === null ? 'opening time cleared' : `opening time ${value}`;
    if (name === 'title' || name === 'message') return value === '' ? `${labels[name]} cleared` : `${labels[name]} set`;
    return `${labels[name] || name} ${value}`;
  }).join(', ');
}
