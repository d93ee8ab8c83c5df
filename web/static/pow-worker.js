/*
 * pow-worker.js: the brute force of the join puzzle (docs/API.md "Proof of work"),
 * in a Web Worker so the page stays responsive. pow.js starts it, and
 * terminates it when the answer is in or the page gives up.
 *
 * In:  {salt, challenge, maxnumber} of an ALTCHA challenge.
 * Out: {type: 'progress', fraction}   a few times a second: share of 0..maxnumber tried
 *      {type: 'done', number, hashes, ms}
 *      {type: 'error', message, unsupported}
 *
 * Each WebCrypto digest is a round trip to the browser's crypto thread, so
 * one at a time leaves the CPU idle between them: BATCH digests are in flight
 * at once, and the next batch is started before the last one is checked.
 */
'use strict';

const BATCH = 1000; // digests started per batch
const PROGRESS_MS = 250; // least time between two progress messages
const MAX_DIGITS = 8; // 10 000 000, the largest maxnumber, has 8 digits

self.onmessage = (event) => {
  run(event.data || {}).catch((err) => {
    self.postMessage({ type: 'error', message: String((err && err.message) || err), unsupported: false });
  });
};

async function run({ salt, challenge, maxnumber }) {
  const subtle = self.crypto && self.crypto.subtle;
  if (!subtle) {
    self.postMessage({ type: 'error', unsupported: true, message: 'Web Crypto is not available (it needs an https page).' });
    return;
  }
  if (typeof salt !== 'string' || !/^[0-9a-f]{64}$/.test(challenge || '') ||
      !Number.isSafeInteger(maxnumber) || maxnumber < 0 || maxnumber >= 10 ** MAX_DIGITS) {
    self.postMessage({ type: 'error', unsupported: false, message: 'The puzzle is malformed.' });
    return;
  }

  const target = new Uint8Array(32);
  for (let i = 0; i < 32; i++) target[i] = parseInt(challenge.substr(2 * i, 2), 16);
  const prefix = new TextEncoder().encode(salt);
  // One buffer for every candidate: digest() copies its input when called
  // (WebCrypto spec), so the digits may be overwritten at once. views[d] is
  // salt plus d digits.
  const buf = new Uint8Array(prefix.length + MAX_DIGITS);
  buf.set(prefix);
  const views = [];
  for (let d = 0; d <= MAX_DIGITS; d++) views.push(buf.subarray(0, prefix.length + d));

  const started = performance.now();
  let reported = started;
  let next = 0; // first number not yet started
  const launch = () => {
    const from = next;
    const to = Math.min(maxnumber, from + BATCH - 1);
    const pending = new Array(to - from + 1);
    for (let n = from; n <= to; n++) {
      pending[n - from] = subtle.digest('SHA-256', views[writeDigits(buf, prefix.length, n)]);
    }
    next = to + 1;
    return { from, to, results: Promise.all(pending) };
  };

  let batch = launch();
  while (batch) {
    const ahead = next <= maxnumber ? launch() : null;
    const results = await batch.results;
    for (let i = 0; i < results.length; i++) {
      if (matches(results[i], target)) {
        const number = batch.from + i;
        self.postMessage({ type: 'done', number, hashes: number + 1, ms: performance.now() - started });
        return;
      }
    }
    const now = performance.now();
    if (now - reported >= PROGRESS_MS) {
      reported = now;
      self.postMessage({ type: 'progress', fraction: (batch.to + 1) / (maxnumber + 1) });
    }
    batch = ahead;
  }
  self.postMessage({ type: 'error', unsupported: false, message: 'No number solves the puzzle.' });
}

// writeDigits writes n in decimal at buf[at...] and returns how many digits.
function writeDigits(buf, at, n) {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return digits;
}

function matches(digest, target) {
  const h = new Uint8Array(digest);
  if (h[0] !== target[0]) return false;
  for (let i = 1; i < 32; i++) if (h[i] !== target[i]) return false;
  return true;
}
