// Turns what a person types (a registry URL, a repository and tag) into the `target`
// string and options the push API takes: `host[:port]/repository[:tag|@digest]`.

/** An input error naming the field it is about. */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

const REPO_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

/**
 * Parses the registry URL and `repository[:tag|@digest]`.
 *
 * Returns `{ target, plainHttp, origin, host, repository, reference, display }`:
 * `plainHttp` is true for `http://` URLs; `origin` is the URL the browser talks to
 * (for explanations); a host without a dot or port (e.g. `http://registry`) gets its
 * default port so that it reads as a registry and not as a Docker Hub namespace.
 * Throws a `FieldError` (field `registry` or `repository`) with a message for people.
 */
export function parseDestination(registryInput, repositoryInput) {
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
  let host = url.host; // lower-cased, with the port unless it is the default one
  const hostname = url.hostname;
  const looksLikeRegistry = url.port !== '' || hostname.includes('.') || hostname === 'localhost' || hostname.startsWith('[');
  if (!looksLikeRegistry) host = `${hostname}:${plainHttp ? 80 : 443}`;

  let repo = String(repositoryInput ?? '').trim().replace(/^\/+/, '');
  if (!repo) throw new FieldError('repository', 'Enter a repository, e.g. team/app:1.0.');
  if (/\s/.test(repo)) throw new FieldError('repository', 'A repository name has no spaces.');
  if (repo.includes('://')) throw new FieldError('repository', 'Enter only the repository and tag here; the registry goes in the URL field.');
  let reference = 'latest';
  let separator = ':';
  const at = repo.indexOf('@');
  if (at >= 0) {
    reference = repo.slice(at + 1);
    separator = '@';
    repo = repo.slice(0, at);
    if (!DIGEST.test(reference)) throw new FieldError('repository', `"${reference}" is not a digest (sha256:…).`);
  } else {
    const colon = repo.lastIndexOf(':');
    if (colon >= 0 && !repo.slice(colon).includes('/')) {
      reference = repo.slice(colon + 1);
      repo = repo.slice(0, colon);
      if (!TAG.test(reference)) {
        throw new FieldError('repository', `"${reference}" is not a valid tag (letters, digits, _ . -; at most 128).`);
      }
    }
  }
  const components = repo.split('/');
  for (const c of components) {
    if (!REPO_COMPONENT.test(c)) {
      throw new FieldError('repository', `"${repo}" is not a valid repository name: use lower-case letters, digits and . _ - separated by /.`);
    }
  }
  const target = `${host}/${repo}${separator}${reference}`;
  return {
    target,
    plainHttp,
    origin: `${url.protocol}//${url.host}`,
    host,
    repository: repo,
    reference,
    display: target,
  };
}

/** The repository part of a tag such as `docker.io/library/app:1` → `library/app:1`. */
export function suggestRepository(tag) {
  if (typeof tag !== 'string' || !tag) return '';
  const parts = tag.split('/');
  if (parts.length > 1 && (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost')) {
    parts.shift();
  }
  return parts.join('/');
}
