/*
 * announce.js: what a page says to screen readers through its polite live
 * region (an aria-live="polite" element).
 */

// announcer returns say(text), which puts text in the live region `el`.
// Emptying it first, then filling it after delayMs, makes a screen reader
// announce the text even when it equals the previous one.
export function announcer(el, delayMs = 100) {
  return (text) => {
    el.textContent = '';
    setTimeout(() => {
      el.textContent = text;
    }, delayMs);
  };
}
