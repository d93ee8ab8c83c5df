/*
 * storage.js: this tab's sessionStorage, which may be missing or throw
 * (private modes, storage turned off); then values live in memory, and the
 * page keeps working for this load.
 */

const memory = new Map();

// tabStorage is get/set/remove on sessionStorage, or on memory when that fails.
export const tabStorage = {
  get(key) {
    try {
      const value = sessionStorage.getItem(key);
      if (value !== null) return value;
    } catch {
      // Fall back to memory below.
    }
    return memory.get(key) ?? null;
  },
  set(key, value) {
    try {
      sessionStorage.setItem(key, value);
      memory.delete(key);
    } catch {
      memory.set(key, value);
    }
  },
  remove(key) {
    memory.delete(key);
    try {
      sessionStorage.removeItem(key);
    } catch {
      // Nothing stored there.
    }
  },
};
