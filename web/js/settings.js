// The form's settings remembered in this browser (localStorage): registry URL, repository,
// user name and the advanced options. Never the password: it is not one of the fields.

const KEY = 'tug-web/settings';

/** `url` without a `user:password@` in front of its host (typed into the URL field, it is
 * refused at push or pull, and must not be remembered either). */
export function withoutUserInfo(url) {
  const parts = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?([^/?#]*)([\s\S]*)$/.exec(url);
  if (!parts) return url;
  const [, scheme = '', authority, rest] = parts;
  const at = authority.lastIndexOf('@');
  return at < 0 ? url : scheme + authority.slice(at + 1) + rest;
}

/** A field's value as it may be kept: the registry URL without user info. */
function keepable(id, value) {
  return id === 'registry-url' ? withoutUserInfo(value) : value;
}

export class Settings {
  /** The ids of the fields remembered, in the form's order. */
  static FIELDS = ['registry-url', 'repository', 'username', 'jobs', 'retries', 'chunk'];

  /** @param {Storage | undefined} storage  `localStorage`, or nothing (then nothing is kept) */
  constructor(storage) {
    this.storage = storage ?? null;
  }

  /** The remembered values, by field id (only known fields, only strings). */
  load() {
    let stored = {};
    try {
      stored = JSON.parse(this.storage?.getItem(KEY) ?? '{}') ?? {};
    } catch {
      stored = {};
    }
    const out = {};
    for (const id of Settings.FIELDS) {
      if (typeof stored[id] === 'string' && stored[id] !== '') out[id] = keepable(id, stored[id]);
    }
    return out;
  }

  /** Remembers `values` (by field id); other keys, a password among them, are dropped, and
   * so is a password typed into the registry URL. */
  save(values) {
    const keep = {};
    for (const id of Settings.FIELDS) {
      if (typeof values[id] === 'string' && values[id] !== '') keep[id] = keepable(id, values[id]);
    }
    try {
      this.storage?.setItem(KEY, JSON.stringify(keep));
    } catch {
      // Storage full or refused (private mode): the page works without it.
    }
  }

  /** Forgets everything remembered. */
  clear() {
    try {
      this.storage?.removeItem(KEY);
    } catch {
      // as in save
    }
  }
}
