/*
 * pow.js: solves the join puzzle (docs/API.md "Proof of work") for the waiting
 * page. An ES module that exports
 *
 *   solve(challenge, onProgress, signal) -> Promise<string>
 *
 * challenge is the JSON of GET /api/rooms/{room}/challenge; onProgress(f) is
 * called a few times a second with the share of the range tried (0..1; the
 * answer usually turns up before 1); signal, an optional AbortSignal, stops
 * the work. The promise gives the base64 payload for the join body's "pow",
 * or fails with an Error whose `code` is 'unsupported' (no Web Workers or no
 * Web Crypto: the latter needs a secure context, https or localhost),
 * 'invalid' (a malformed challenge), 'failed' or 'aborted'.
 */

// Next to this module, so the worker is found under any path prefix.
const WORKER_URL = new URL('pow-worker.js', import.meta.url).href;
const MAX_NUMBER = 10000000;

function powError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}

function validChallenge(c) {
  return Boolean(c) && c.algorithm === 'SHA-256' &&
    typeof c.challenge === 'string' && /^[0-9a-f]{64}$/.test(c.challenge) &&
    typeof c.signature === 'string' && /^[0-9a-f]{64}$/.test(c.signature) &&
    typeof c.salt === 'string' && /^[\x21-\x7e]{1,200}$/.test(c.salt) &&
    Number.isSafeInteger(c.maxnumber) && c.maxnumber >= 0 && c.maxnumber <= MAX_NUMBER;
}

// unsupported says why this browser cannot do the work, or '' if it can.
function unsupported() {
  if (typeof Worker === 'undefined') {
    return 'This browser cannot run the check in the background (it lacks Web Workers). Please use an up-to-date browser.';
  }
  if (!(self.crypto && self.crypto.subtle)) {
    return self.isSecureContext === false
      ? 'This browser only allows the check on a secure (https) page, and this page is not one.'
      : 'This browser cannot run the check (it lacks Web Crypto). Please use an up-to-date browser.';
  }
  return '';
}

// payload is the ALTCHA solution: base64 of its JSON, in this field order.
function payload(c, number) {
  return btoa(JSON.stringify({
    algorithm: c.algorithm, challenge: c.challenge, number, salt: c.salt, signature: c.signature,
  }));
}

export function solve(challenge, onProgress, signal) {
  return new Promise((resolve, reject) => {
    if (!validChallenge(challenge)) {
      reject(powError('invalid', 'The waiting room sent a check this page cannot read.'));
      return;
    }
    const why = unsupported();
    if (why) {
      reject(powError('unsupported', why));
      return;
    }
    if (signal && signal.aborted) {
      reject(powError('aborted', 'The check was stopped.'));
      return;
    }
    let worker;
    try {
      worker = new Worker(WORKER_URL);
    } catch {
      reject(powError('unsupported', 'This browser would not start the check in the background.'));
      return;
    }

    let settled = false;
    const onAbort = () => stop(powError('aborted', 'The check was stopped.'));
    const stop = (err, value) => {
      if (settled) return;
      settled = true;
      worker.terminate();
      if (signal) signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(value);
    };
    const progress = (fraction) => {
      if (typeof onProgress !== 'function') return;
      try {
        onProgress(Math.min(1, Math.max(0, Number(fraction) || 0)));
      } catch {
        // The page's display must not break the work.
      }
    };
    if (signal) signal.addEventListener('abort', onAbort, { once: true });

    worker.addEventListener('message', (event) => {
      const m = event.data || {};
      if (m.type === 'progress') {
        progress(m.fraction);
      } else if (m.type === 'done' && Number.isSafeInteger(m.number)) {
        progress(1);
        stop(null, payload(challenge, m.number));
      } else if (m.type === 'error') {
        stop(powError(m.unsupported ? 'unsupported' : 'failed', String(m.message || 'The check failed.')));
      }
    });
    // A worker script that fails to load or throws ends up here.
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      stop(powError('failed', 'The check stopped unexpectedly' + (event.message ? ': ' + event.message : '.')));
    });
    worker.postMessage({ salt: challenge.salt, challenge: challenge.challenge, maxnumber: challenge.maxnumber });
  });
}
