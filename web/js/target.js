// Turns what a person types (a registry URL, a repository and tag) into the `target`
// string and options the push API takes: `host[:port]/repository[:tag|@digest]`. The
// reference grammar is tug-wasm's (`tug.parseReference`, the CLI's own parser): this file
// only reads the URL field and says which field a mistake is in.

/** An input error naming the field it is about. */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

/**
 * Parses the registry URL and `repository[:tag|@digest]` with `tug` (the tug-wasm module).
 *
 * Returns `{ target, plainHttp, origin, host, repository, reference, display }`:
 * `plainHttp` is true for `http://` URLs; `origin` is the URL the browser talks to
 * (for explanations); a host the reference grammar would not read as a registry (one
 * without a dot or port, e.g. `http://registry`) gets its default port. Throws a
 * `FieldError` (field `registry` or `repository`) with a message for people.
 */
export function parseDestination(tug, registryInput, repositoryInput) {
  const raw = String(registryInput ?? '').trim();
  if (!raw) throw new FieldError('registry', 'Enter the registry URL, e.g. https://registry.example.com.');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let url;
  try {
    url = new URL(withScheme);
  } catch {
    throw new FieldError('registry', `"${raw}" is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new FieldError('registry', 'The registry URL must start with https:// (or http:// for a registry without TLS).');
  }
  if (url.username || url.password) {
    throw new FieldError('registry', 'Put the user name and password in their own fields, not in the URL.');
  }
  if (url.pathname !== '/' && url.pathname !== '/v2/' && url.pathname !== '/v2') {
    throw new FieldError('registry', 'A registry URL has no path: the registry API lives at /v2/ of its host.');
  }
  if (url.search || url.hash) {
    throw new FieldError('registry', 'The registry URL must not have a query or fragment.');
  }
  const plainHttp = url.protocol === 'http:';

  const repo = String(repositoryInput ?? '').trim().replace(/^\/+/, '');
  if (!repo) throw new FieldError('repository', 'Enter a repository, e.g. team/app:1.0.');
  if (repo.includes('://')) throw new FieldError('repository', 'Enter only the repository and tag here; the registry goes in the URL field.');

  // url.host is lower-cased, with the port unless it is the default one.
  let host = url.host;
  let parsed = parse(tug, `${host}/${repo}`);
  if (parsed.registry !== host) {
    // The grammar reads a bare name as a Docker Hub namespace: name the port.
    host = `${url.hostname}:${plainHttp ? 80 : 443}`;
    parsed = parse(tug, `${host}/${repo}`);
  }
  const target = parsed.name;
  return {
    target,
    plainHttp,
    origin: `${url.protocol}//${url.host}`,
    host,
    repository: parsed.repository,
    reference: parsed.reference,
    display: target,
  };
}

/** `text` parsed by tug-wasm; its mistakes are the registry field's or the repository's. */
function parse(tug, text) {
  try {
    return tug.parseReference(text);
  } catch (e) {
    throw new FieldError(e.part === 'registry' ? 'registry' : 'repository', String(e.message ?? e));
  }
}

/**
 * The repository part of a tag such as `docker.io/library/app:1` → `library/app:1`, as
 * tug-wasm reads the tag; '' for a tag it cannot read.
 */
export function suggestRepository(tug, tag) {
  if (typeof tag !== 'string' || !tag) return '';
  let parsed;
  try {
    parsed = tug.parseReference(tag);
  } catch {
    return '';
  }
  // A registry written in the tag goes; Docker Hub's implied one was never there.
  const prefix = `${parsed.registry}/`;
  return tag.startsWith(prefix) ? tag.slice(prefix.length) : tag;
}
