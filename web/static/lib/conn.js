/*
 * conn.js: the connection indicator under a page's heading (p.conn: a dot
 * coloured by data-state in style.css, and a text).
 */

// showConn sets the indicator `el` and its text element to `state` ('live',
// 'connecting', 'reconnecting', 'polling') and `text`; a null state hides it.
// It is not a live region: a flaky network should not interrupt a screen
// reader.
export function showConn(el, textEl, state, text) {
  el.hidden = state === null;
  if (state === null) return;
  el.dataset.state = state;
  textEl.textContent = text;
}
