/*
 * base.js: where waitroom's routes live, so no other file writes a path
 * that starts with "/".
 *
 * Every waitroom route hangs off one root: "/" when waitroom has the host to
 * itself, "/_waitroom/" in gateway mode (docs/API.md, "Gateway"). The pages
 * load this module from <root>static/lib/base.js, so the root is two levels
 * up from import.meta.url, whatever the prefix is. Build every API, socket,
 * page and asset URL from it with the functions below, from a path relative
 * to the root ('api/rooms/demo', 'booking/demo').
 */

// root is the waitroom root as a URL, ending in "/".
export const root = new URL('../../', import.meta.url);

// urlFor is the absolute URL of a path under the root.
export function urlFor(path) {
  return new URL(path, root).href;
}

// pathFor is the same as a path from the host's root ("/_waitroom/rooms/demo"),
// the form a link's href shows.
export function pathFor(path) {
  const u = new URL(path, root);
  return u.pathname + u.search;
}

// socketFor is the ws: or wss: URL of a path under the root, on the host the
// page came from (the policy's connect-src allows only that host).
export function socketFor(path) {
  const u = new URL(path, root);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.href;
}

const ROOM_ID = /^[a-z0-9-]{1,64}$/;

// roomIn reads the room id from this page's address, <root><section>/<room>
// (section 'rooms' or 'booking'); '' when the address names no valid room.
export function roomIn(section) {
  const path = location.pathname;
  if (!path.startsWith(root.pathname)) return '';
  const m = new RegExp(`^${section}/([^/]+)/?$`).exec(path.slice(root.pathname.length));
  if (!m) return '';
  let id;
  try {
    id = decodeURIComponent(m[1]);
  } catch {
    return '';
  }
  return ROOM_ID.test(id) ? id : '';
}

// validRoomId says whether s has the shape of a room id (docs/API.md).
export function validRoomId(s) {
  return typeof s === 'string' && ROOM_ID.test(s);
}
