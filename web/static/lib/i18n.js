/*
 * i18n.js: the page's language and its words.
 *
 * Every string a page shows lives in one file per language,
 * static/i18n/<tag>.js, a flat table of keys; adding a language is adding a
 * file (the server lists static/i18n/ to know what it offers). The server
 * picks the language (?lang=, then the wr_lang cookie it sets on a ?lang=
 * choice, then Accept-Language) and writes it into <html lang> along with
 * data-languages, the tags it offers. This module loads that language's
 * table before any page module runs (top-level await), so the page's first
 * paint is already in the visitor's language: style.css keeps the body
 * hidden until translate() has filled it and marks <html> ready.
 *
 * A message is a string with {name} placeholders, an object of plural forms
 * chosen by Intl.PluralRules from the `n` parameter ({one, other, …}), or a
 * function of the parameters. Numbers are formatted with Intl.NumberFormat;
 * durations, clock times and ages with the helpers below, all in the page's
 * language and the visitor's own time zone. Nothing here ever writes HTML.
 */
import { urlFor } from './base.js';

const html = document.documentElement;
const FALLBACK = 'en';

// offered are the language tags the server offers, English first.
export const offered = (html.dataset.languages || FALLBACK).split(/\s+/).filter((l) => /^[a-z]{2,3}(-[A-Za-z0-9]+)*$/.test(l));

// lang is the page's language: ?lang= when the server did not already
// apply it (a page served as a plain file), else what the server chose.
export const lang = pick();

function pick() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked && offered.includes(asked)) return asked;
  if (offered.includes(html.lang)) return html.lang;
  return FALLBACK;
}

async function load(tag) {
  try {
    return (await import(urlFor(`static/i18n/${tag}.js`))).default;
  } catch {
    return null;
  }
}

// A missing file (a language announced but not served) falls back to English.
const table = (await load(lang)) || (lang === FALLBACK ? {} : (await load(FALLBACK)) || {});
html.lang = table['lang.tag'] ? lang : FALLBACK;

const numbers = new Intl.NumberFormat(lang);
const plurals = new Intl.PluralRules(lang);

// t is the message `key` with `params` filled in, as text.
export function t(key, params = {}) {
  return parts(key, params).join('');
}

// has says whether the language has a message for key.
export function has(key) {
  return Object.hasOwn(table, key);
}

// nodes is the message as a list of strings and the Nodes given as
// parameters, for element.replaceChildren(...nodes(...)): a message can
// hold a <time> or <strong> element without any HTML being parsed.
export function nodes(key, params = {}) {
  return parts(key, params);
}

function parts(key, params) {
  let msg = table[key];
  if (msg === undefined) {
    console.warn(`i18n: no message ${key} in ${lang}`);
    return [key];
  }
  if (typeof msg === 'function') msg = msg(params, fmt);
  if (msg && typeof msg === 'object') {
    const n = Number(params.n);
    msg = msg[plurals.select(Number.isFinite(n) ? n : 0)] ?? msg.other;
  }
  const out = [];
  for (const piece of String(msg).split(/(\{[a-zA-Z0-9_]+\})/)) {
    if (!piece) continue;
    const m = /^\{([a-zA-Z0-9_]+)\}$/.exec(piece);
    if (!m || !(m[1] in params)) {
      out.push(piece);
      continue;
    }
    const v = params[m[1]];
    if (typeof Node !== 'undefined' && v instanceof Node) out.push(v);
    else if (typeof v === 'number') out.push(numbers.format(v));
    else out.push(String(v));
  }
  return out;
}

// ---- Formats ----------------------------------------------------------------

const cache = new Map();
function intl(kind, options) {
  const key = kind + JSON.stringify(options);
  if (!cache.has(key)) cache.set(key, new Intl[kind](lang, options));
  return cache.get(key);
}

function unit(n, name, display = 'short') {
  return intl('NumberFormat', { style: 'unit', unit: name, unitDisplay: display }).format(n);
}

// duration: {hours, minutes, seconds} in this language ("1 hr, 5 min",
// "1시간 5분"). Intl.DurationFormat where the browser has it, else units.
function duration(d, style = 'short') {
  const clean = Object.fromEntries(Object.entries(d).filter(([, v]) => v));
  if (!Object.keys(clean).length) clean.seconds = 0;
  if (typeof Intl.DurationFormat === 'function') {
    return intl('DurationFormat', { style }).format(clean);
  }
  const names = { days: 'day', hours: 'hour', minutes: 'minute', seconds: 'second' };
  return Object.entries(clean).map(([k, v]) => unit(v, names[k], style)).join(' ');
}

export const fmt = {
  // int: 12,345 in the page's language.
  int: (n) => numbers.format(Number(n)),
  // compact: axis labels, 950, 1.2K, 15K.
  compact: (n) => intl('NumberFormat', { notation: 'compact', maximumFractionDigits: 1 }).format(n),
  // wait: an estimate in minutes, rounded, "1 hr, 5 min"; '' under one minute.
  wait(minutes) {
    const total = Math.round(minutes);
    if (!(total >= 1)) return '';
    return duration({ hours: Math.floor(total / 60), minutes: total % 60 });
  },
  // span: a duration in its two largest units, rounded, "1 hr, 5 min".
  span(ms) {
    const total = Math.round(ms / 1000);
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (d) return duration({ days: d, hours: h });
    if (h) return duration({ hours: h, minutes: m });
    if (m) return duration({ minutes: m, seconds: s });
    return duration({ seconds: s });
  },
  // countdown: a time left to the second, rounded up, "1 hr, 5 min, 9 sec".
  countdown(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const d = Math.floor(total / 86400);
    const h = Math.floor((total % 86400) / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (d) return duration({ days: d, hours: h, minutes: m });
    return duration({ hours: h, minutes: m, seconds: s });
  },
  // clock: a countdown as a clock, "4:59" or "1:04:59" (the same everywhere).
  clock(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const two = (v) => intl('NumberFormat', { minimumIntegerDigits: 2 }).format(v);
    return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
  },
  // time: a moment as a clock time in the visitor's time zone, "3:45 PM", "오후 3:45".
  time: (ms) => intl('DateTimeFormat', { hour: 'numeric', minute: '2-digit' }).format(new Date(ms)),
  // timeSeconds: the same to the second.
  timeSeconds: (ms) => intl('DateTimeFormat', { hour: 'numeric', minute: '2-digit', second: '2-digit' }).format(new Date(ms)),
  // dateTime: a date and time in the visitor's time zone; dateStyle is Intl's.
  dateTime: (ms, dateStyle = 'medium') => intl('DateTimeFormat', { dateStyle, timeStyle: 'short' }).format(new Date(ms)),
  // ago: how long ago, "12 seconds ago", "12초 전"; "now" under a second.
  ago(ms) {
    const rtf = intl('RelativeTimeFormat', { numeric: 'auto' });
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return rtf.format(-s, 'second');
    const m = Math.round(s / 60);
    if (m < 60) return rtf.format(-m, 'minute');
    return rtf.format(-Math.round(m / 60), 'hour');
  },
  // language: a language's name in that language ("한국어").
  language(tag) {
    try {
      return new Intl.DisplayNames([tag], { type: 'language' }).of(tag) || tag;
    } catch {
      return tag;
    }
  },
};

// ---- The page -----------------------------------------------------------------

// translate fills every element under root marked data-i18n="key" with its
// text, and data-i18n-attr="attr:key attr:key" attributes, then shows the
// page (see style.css: nothing paints before this).
export function translate(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(/\s+/)) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  html.classList.add('i18n-ready');
}

// languageSwitch fills `nav` with a link per offered language, each to this
// page with ?lang=<tag>: the server remembers the choice in a cookie. A
// reload keeps a visitor's place in line (the ticket is in a cookie).
export function languageSwitch(nav) {
  if (!nav) return;
  nav.setAttribute('aria-label', t('lang.switch'));
  nav.hidden = offered.length < 2;
  const list = document.createElement('ul');
  for (const tag of offered) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    const u = new URL(location.href);
    u.searchParams.set('lang', tag);
    u.hash = '';
    a.href = u.href;
    a.lang = tag;
    a.hreflang = tag;
    a.dataset.lang = tag;
    a.textContent = fmt.language(tag);
    if (tag === lang) a.setAttribute('aria-current', 'true');
    li.append(a);
    list.append(li);
  }
  nav.replaceChildren(list);
}
